/* /proc/self/status as Linux 6.x prints it: every field, in its order (the names), the values
 * that do not depend on the host (Kthread, HugetlbPages, CoreDumping, untag_mask), and the
 * context-switch counts: a task that sleeps switches voluntarily. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "probe.h"

int main(void) {
  char line[4096];
  FILE *f = fopen("/proc/self/status", "r");
  while (fgets(line, sizeof line, f)) {
    char *colon = strchr(line, ':');
    if (!colon)
      continue;
    *colon = 0;
    const char *fixed[] = {"Kthread", "HugetlbPages", "CoreDumping", "untag_mask"};
    int show = 0;
    for (unsigned i = 0; i < sizeof fixed / sizeof *fixed; i++)
      show |= !strcmp(line, fixed[i]);
    if (show)
      printf("%s:%s", line, colon + 1);
    else
      printf("%s\n", line);
  }
  fclose(f);
  long before = status_field("voluntary_ctxt_switches");
  for (int i = 0; i < 3; i++)
    usleep(1000);
  printf("voluntary switches grew: %d\n", status_field("voluntary_ctxt_switches") > before);
  printf("nonvoluntary switches counted: %d\n", status_field("nonvoluntary_ctxt_switches") >= 0);
  return 0;
}
