package s3bridge

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	objects    prometheus.Counter
	lines      prometheus.Counter
	bytes      prometheus.Counter
	duplicates prometheus.Counter
	errors     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		objects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_bridge_objects_total", Help: "S3 objects fully produced to Kafka.",
		}),
		lines: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_bridge_lines_total", Help: "Lines produced to Kafka and acknowledged.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_bridge_bytes_total", Help: "Object bytes read (after decompression).",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sagewall_bridge_duplicate_objects_total", Help: "Notifications skipped because the object was already produced.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sagewall_bridge_errors_total",
			Help: "Failures by type (receive, parse, get_object, read, too_large, line_too_long, produce, visibility, delete).",
		}, []string{"type"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.objects, m.lines, m.bytes, m.duplicates, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
