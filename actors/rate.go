package actors

import "time"

// rate estimates a rate per second from a growing counter sampled now and
// then, smoothed so that one slow second does not swing an ETA.
type rate struct {
	last  int64
	at    time.Time
	value float64
}

// rateSmoothing is the weight of the newest sample.
const rateSmoothing = 0.3

// sample records the counter's value now and returns the smoothed rate.
func (r *rate) sample(count int64, now time.Time) float64 {
	if !r.at.IsZero() {
		if dt := now.Sub(r.at).Seconds(); dt > 0 {
			cur := float64(count-r.last) / dt
			if r.value == 0 {
				r.value = cur
			} else {
				r.value = rateSmoothing*cur + (1-rateSmoothing)*r.value
			}
		}
	}
	r.last, r.at = count, now
	return r.value
}
