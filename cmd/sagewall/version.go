package main

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sagewall/sagewall/scoring"
)

// buildVersion is what the binary knows of its own build: the module
// version (a tag when built from a tagged module, else "(devel)") and the
// git commit the go command stamped into it.
type buildVersion struct {
	Version   string
	Revision  string // "" when the build carries no VCS stamp (go run, -buildvcs=false)
	Time      string
	Modified  bool
	GoVersion string
}

func readBuildVersion() buildVersion {
	v := buildVersion{Version: "(devel)"}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.GoVersion = info.GoVersion
	if info.Main.Version != "" {
		v.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.time":
			v.Time = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is the one line `sagewall version` prints first.
func (v buildVersion) String() string {
	s := "sagewall " + v.Version
	if v.Revision != "" {
		s += " (commit " + v.Revision
		if v.Modified {
			s += ", modified"
		}
		if v.Time != "" {
			s += ", " + v.Time
		}
		s += ")"
	}
	if v.GoVersion != "" {
		s += ", " + v.GoVersion
	}
	return s
}

// runVersion prints the build and the bundled models (also `sagewall --version`).
func runVersion(_ context.Context, args []string, io stdio) error {
	if len(args) != 0 {
		return usageError{fmt.Errorf("version takes no arguments, got %q", args)}
	}
	fmt.Fprintln(io.out, readBuildVersion())
	for _, m := range []struct {
		name string
		load func(...scoring.Option) (*scoring.Detector, error)
	}{{embeddedModel, scoring.Bundled}, {embeddedConnLogModel, scoring.BundledConnLog}} {
		d, err := m.load()
		if err != nil {
			return err
		}
		info := d.Info()
		fmt.Fprintf(io.out, "%s: %s %s, threshold %v, sha256 %s\n", m.name, info.Name, info.Version, d.Threshold(), info.SHA256)
	}
	return nil
}

// registerBuildInfo adds sagewall_build_info, a constant 1 labelled with the
// build and the model the process runs, to reg: what is deployed where.
func registerBuildInfo(reg prometheus.Registerer, v buildVersion, model scoring.Info, threshold float64) error {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sagewall_build_info",
		Help: "Always 1; its labels name the build (version, git revision, Go version) and the model it runs.",
		ConstLabels: prometheus.Labels{"version": v.Version, "revision": v.Revision, "goversion": v.GoVersion,
			"model": model.Name, "model_version": model.Version, "threshold": fmt.Sprint(threshold)},
	})
	g.Set(1)
	return reg.Register(g)
}
