// Goroutines passing work over channels, sleeping, and a mutex-guarded counter: the Go runtime
// keeps threads parked in futex waits and nanosleep, which a checkpoint must carry over.
package main

import (
	"fmt"
	"os"
	"sync"
	"time"
)

func main() {
	const workers = 4
	jobs := make(chan int)
	results := make(chan int, 8)
	var mu sync.Mutex
	counter := 0
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			for j := range jobs {
				x := 0.5
				for i := 0; i < 20000; i++ {
					x = x*1.0000001 + float64(i)*1e-9
				}
				time.Sleep(2 * time.Millisecond)
				mu.Lock()
				counter++
				mu.Unlock()
				results <- j * j
			}
		}(w)
	}
	go func() {
		for i := 0; i < 60; i++ {
			jobs <- i
		}
		close(jobs)
	}()
	go func() { wg.Wait(); close(results) }()
	sum := 0
	for r := range results {
		sum += r
	}
	fmt.Printf("sum %d counter %d\n", sum, counter)
	os.Exit(4)
}
