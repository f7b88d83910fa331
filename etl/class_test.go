package etl

import (
	"encoding/json"
	"testing"
)

func TestClassOfLabel(t *testing.T) {
	tests := []struct {
		label string
		want  Class
		ok    bool
	}{
		{"normal", Normal, true},
		{"normal.", Normal, true}, // KDD Cup 99 spelling
		// The 22 training attacks.
		{"back", DoS, true}, {"land", DoS, true}, {"neptune", DoS, true}, {"pod", DoS, true},
		{"smurf", DoS, true}, {"teardrop", DoS, true},
		{"ipsweep", Probe, true}, {"nmap", Probe, true}, {"portsweep", Probe, true}, {"satan", Probe, true},
		{"ftp_write", R2L, true}, {"guess_passwd", R2L, true}, {"imap", R2L, true}, {"multihop", R2L, true},
		{"phf", R2L, true}, {"spy", R2L, true}, {"warezclient", R2L, true}, {"warezmaster", R2L, true},
		{"buffer_overflow", U2R, true}, {"loadmodule", U2R, true}, {"perl", U2R, true}, {"rootkit", U2R, true},
		// Attacks only in the official test data.
		{"apache2", DoS, true}, {"mailbomb", DoS, true}, {"processtable", DoS, true}, {"udpstorm", DoS, true},
		{"mscan", Probe, true}, {"saint", Probe, true},
		{"named", R2L, true}, {"sendmail", R2L, true}, {"snmpgetattack", R2L, true}, {"snmpguess", R2L, true},
		{"xlock", R2L, true}, {"xsnoop", R2L, true},
		{"worm", R2L, true}, {"httptunnel", R2L, true}, // see ClassOfLabel for why
		{"ps", U2R, true}, {"sqlattack", U2R, true}, {"xterm", U2R, true},
		// Unknown.
		{"", Normal, false}, {"Neptune", Normal, false}, {"dos", Normal, false}, {"zeroday", Normal, false},
	}
	for _, tt := range tests {
		got, ok := ClassOfLabel(tt.label)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ClassOfLabel(%q) = %v, %v; want %v, %v", tt.label, got, ok, tt.want, tt.ok)
		}
		if tt.ok && internLabel([]byte(tt.label)) != tt.label {
			t.Errorf("internLabel(%q) = %q", tt.label, internLabel([]byte(tt.label)))
		}
	}
}

// TestInternLabelCoversClasses checks that every label ClassOfLabel knows is
// interned (so parsing it does not allocate) and vice versa.
func TestInternLabelCoversClasses(t *testing.T) {
	known := []string{"normal", "back", "land", "neptune", "pod", "smurf", "teardrop", "apache2", "mailbomb",
		"processtable", "udpstorm", "ipsweep", "nmap", "portsweep", "satan", "mscan", "saint", "ftp_write",
		"guess_passwd", "imap", "multihop", "phf", "spy", "warezclient", "warezmaster", "named", "sendmail",
		"snmpgetattack", "snmpguess", "xlock", "xsnoop", "worm", "httptunnel", "buffer_overflow", "loadmodule",
		"perl", "rootkit", "ps", "sqlattack", "xterm"}
	if len(known) != 1+22+17 {
		t.Fatalf("%d known labels, want 40", len(known))
	}
	for _, label := range known {
		if _, ok := ClassOfLabel(label); !ok {
			t.Errorf("ClassOfLabel(%q) unknown", label)
		}
		b := []byte(label)
		if allocs := testing.AllocsPerRun(10, func() { _ = internLabel(b) }); allocs != 0 {
			t.Errorf("internLabel(%q) allocates %v times", label, allocs)
		}
	}
}

func TestClassNames(t *testing.T) {
	want := []string{"normal", "dos", "probe", "r2l", "u2r"}
	classes := Classes()
	if len(classes) != len(want) {
		t.Fatalf("Classes() = %v", classes)
	}
	for i, c := range classes {
		if int(c) != i || c.String() != want[i] {
			t.Errorf("class %d = %d %q, want %d %q", i, c, c, i, want[i])
		}
		for _, s := range []string{want[i], map[string]string{"dos": "DoS", "r2l": "R2L", "u2r": "U2R", "probe": "Probe", "normal": "NORMAL"}[want[i]]} {
			if got, err := ParseClass(s); err != nil || got != c {
				t.Errorf("ParseClass(%q) = %v, %v", s, got, err)
			}
		}
	}
	if _, err := ParseClass("neptune"); err == nil {
		t.Error("ParseClass(neptune) succeeded")
	}
	if got := Class(9).String(); got != "Class(9)" {
		t.Errorf("Class(9).String() = %q", got)
	}
}

func TestClassJSON(t *testing.T) {
	data, err := json.Marshal(map[string]Class{"category": R2L})
	if err != nil || string(data) != `{"category":"r2l"}` {
		t.Fatalf("Marshal = %s, %v", data, err)
	}
	var back map[string]Class
	if err := json.Unmarshal(data, &back); err != nil || back["category"] != R2L {
		t.Errorf("Unmarshal = %v, %v", back, err)
	}
	if _, err := json.Marshal(Class(7)); err == nil {
		t.Error("Marshal(Class(7)) succeeded")
	}
	if err := json.Unmarshal([]byte(`"weird"`), new(Class)); err == nil {
		t.Error(`Unmarshal("weird") succeeded`)
	}
}
