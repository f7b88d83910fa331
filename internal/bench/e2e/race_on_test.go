//go:build race

package main

// raceDetector: the race detector's shadow memory multiplies a child's RSS
// (232 MB measured for one holding 64 MB), so TestUsageOfExitedProcesses
// widens its upper bound under -race.
const raceDetector = true
