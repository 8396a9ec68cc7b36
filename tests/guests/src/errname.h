/* errname(e): an errno's macro name, for the lines the guest programs print (natively and under
   ecs-kernel, whose outputs the tests compare); "E<number>" for one not listed here. */
#ifndef ECS_GUEST_ERRNAME_H
#define ECS_GUEST_ERRNAME_H
#include <errno.h>
#include <stdio.h>

static const char *errname(int e) {
    switch (e) {
    case E2BIG: return "E2BIG"; case EACCES: return "EACCES";
    case EADDRINUSE: return "EADDRINUSE"; case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EAFNOSUPPORT: return "EAFNOSUPPORT"; case EAGAIN: return "EAGAIN";
    case EALREADY: return "EALREADY"; case EBADF: return "EBADF"; case EBUSY: return "EBUSY";
    case ECONNABORTED: return "ECONNABORTED"; case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET"; case EDESTADDRREQ: return "EDESTADDRREQ";
    case EDOM: return "EDOM"; case EEXIST: return "EEXIST"; case EFAULT: return "EFAULT";
    case EFBIG: return "EFBIG"; case EIDRM: return "EIDRM";
    case EINPROGRESS: return "EINPROGRESS"; case EINTR: return "EINTR";
    case EINVAL: return "EINVAL"; case EISCONN: return "EISCONN"; case EISDIR: return "EISDIR";
    case ELOOP: return "ELOOP"; case EMFILE: return "EMFILE"; case EMSGSIZE: return "EMSGSIZE";
    case ENAMETOOLONG: return "ENAMETOOLONG"; case ENETUNREACH: return "ENETUNREACH";
    case ENOBUFS: return "ENOBUFS"; case ENODEV: return "ENODEV"; case ENOENT: return "ENOENT";
    case ENOMEM: return "ENOMEM"; case ENOMSG: return "ENOMSG";
    case ENOPROTOOPT: return "ENOPROTOOPT"; case ENOSPC: return "ENOSPC";
    case ENOSYS: return "ENOSYS"; case ENOTCONN: return "ENOTCONN";
    case ENOTDIR: return "ENOTDIR"; case ENOTSOCK: return "ENOTSOCK"; case ENXIO: return "ENXIO";
    case EOPNOTSUPP: return "EOPNOTSUPP"; case EPERM: return "EPERM"; case EPIPE: return "EPIPE";
    case EPROTO: return "EPROTO"; case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case EPROTOTYPE: return "EPROTOTYPE"; case ERANGE: return "ERANGE";
    case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT"; case ESPIPE: return "ESPIPE";
    case ESRCH: return "ESRCH"; case ETIMEDOUT: return "ETIMEDOUT"; case EUSERS: return "EUSERS";
    default: { static char buf[16]; snprintf(buf, sizeof buf, "E%d", e); return buf; }
    }
}
#endif
