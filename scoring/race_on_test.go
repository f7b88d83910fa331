//go:build race

package scoring

// raceDetector: the race detector's shadow memory multiplies RSS, so the
// memory bounds of TestHostileModelsStayBounded do not hold under -race.
const raceDetector = true
