// Package bench holds the benchmark harness: run.sh (`make bench`), the load
// client in loadclient/, and Go micro-benchmarks of hot paths that have no
// benchmark in their own package (audit append). It is never imported.
package bench
