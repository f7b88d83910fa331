package sinks

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sagewall/sagewall/etl"
	"github.com/sagewall/sagewall/scoring"
)

// Format appends one verdict as a complete JSON document to dst. The
// implementations are append-style (no reflection, no per-field
// allocation) because they run once per record in the hot path.
type Format interface {
	Append(dst []byte, v *Verdict) []byte
}

// ParseFormat returns the Format named by the output.format setting, with
// the source record's 41 fields in each verdict when fields (the
// output.fields setting) is "full"; "compact" (or "") leaves them out.
func ParseFormat(name, fields string) (Format, error) {
	var record bool
	switch fields {
	case "", FieldsCompact:
	case FieldsFull:
		record = true
	default:
		return nil, fmt.Errorf("unknown output fields %q (want %s or %s)", fields, FieldsCompact, FieldsFull)
	}
	switch name {
	case "", "json":
		return NewJSONFormat(record), nil
	case "ocsf":
		return OCSFFormat{Record: record}, nil
	default:
		return nil, fmt.Errorf("unknown output format %q (want json or ocsf)", name)
	}
}

// The output.fields settings. A compact verdict names the record (source,
// connection, label), the model, its score and category: what a SIEM or an
// analyst acts on. The full one also copies the source record's 41
// features, which made a JSON verdict ~1.2 KB instead of ~0.4 and its
// encoding, compression and produce most of the pipeline's CPU.
const (
	FieldsCompact = "compact"
	FieldsFull    = "full"
)

// JSONFormat is sagewall's own verdict document:
//
//	{"id":"raw/0/17","schema_version":"1.2.0","time":"…","source":{"topic":"raw","partition":0,"offset":17},
//	 "score":0.98,"attack":true,"category":"dos","category_probability":0.97,
//	 "threshold":0.5,"model":{"name":…,"version":…,"sha256":…},"features_source":"zeek",
//	 "label":"neptune","connection":{"time":…,"uid":…,"src_ip":…,"src_port":…,"dst_ip":…,
//	 "dst_port":…,"transport":"tcp","sensor":…,"fields":{…}},"record":{"duration":0,…}}
//
// connection is there when the record named its connection (always for
// connection logs); features_source says whether the record carried its
// features (nslkdd) or they were derived from a connection log; record only
// when Record is set. verdict.schema.json (VerdictSchema) is its JSON
// Schema, of version VerdictSchemaVersion.
type JSONFormat struct {
	Record bool // copy the source record's 41 fields into "record"
	// model keeps the encoded threshold and model of the latest verdict:
	// they are the same for every verdict of a run, and encoding them each
	// time was a quarter of a compact verdict's cost. Nil (a JSONFormat
	// literal) encodes them every time; NewJSONFormat sets it.
	model *modelMemo
}

// NewJSONFormat returns the JSON format that remembers the encoding of the
// latest threshold and model; it is safe for concurrent use.
func NewJSONFormat(record bool) JSONFormat { return JSONFormat{Record: record, model: &modelMemo{}} }

// modelMemo holds the latest encoded threshold-and-model fragment.
type modelMemo struct{ latest atomic.Pointer[modelFragment] }

type modelFragment struct {
	threshold float64
	model     scoring.Info
	json      []byte
}

// appendModel appends `,"threshold":…,"model":{…}` for threshold and model,
// from the memo when it holds them (NaN thresholds never match: encoded
// each time).
func (m *modelMemo) appendModel(dst []byte, threshold float64, model *scoring.Info) []byte {
	if m != nil {
		if f := m.latest.Load(); f != nil && f.threshold == threshold && f.model == *model {
			return append(dst, f.json...)
		}
	}
	start := len(dst)
	dst = append(dst, `,"threshold":`...)
	dst = appendFloat(dst, threshold, 64)
	dst = append(dst, `,"model":{"name":"`...)
	dst = appendEscaped(dst, model.Name)
	dst = append(dst, `","version":"`...)
	dst = appendEscaped(dst, model.Version)
	dst = append(dst, `","sha256":"`...)
	dst = appendEscaped(dst, model.SHA256)
	dst = append(dst, `"}`...)
	if m != nil {
		m.latest.Store(&modelFragment{threshold, *model, bytes.Clone(dst[start:])})
	}
	return dst
}

// Append implements Format.
func (f JSONFormat) Append(dst []byte, v *Verdict) []byte {
	dst = append(dst, `{"id":"`...)
	dst = appendEscapedKey(dst, v.Source)
	dst = append(dst, `","schema_version":"`+VerdictSchemaVersion+`","time":"`...)
	dst = appendRFC3339Nano(dst, v.Time)
	dst = append(dst, `","source":`...)
	dst = appendSource(dst, v.Source)
	dst = append(dst, `,"score":`...)
	dst = appendFloat(dst, float64(v.Result.Score), 32)
	dst = append(dst, `,"attack":`...)
	dst = strconv.AppendBool(dst, v.Result.Attack)
	dst = append(dst, `,"category":"`...)
	dst = appendEscaped(dst, v.Result.CategoryName())
	dst = append(dst, `","category_probability":`...)
	dst = appendFloat(dst, float64(v.Result.CategoryProb), 32)
	dst = f.model.appendModel(dst, v.Threshold, &v.Model)
	dst = append(dst, `,"features_source":"`...)
	dst = appendEscaped(dst, featuresSource(v))
	dst = append(dst, '"')
	if v.Record.Label != "" {
		dst = append(dst, `,"label":"`...)
		dst = appendEscaped(dst, v.Record.Label)
		dst = append(dst, '"')
		if class, ok := etl.ClassOfLabel(v.Record.Label); ok {
			dst = append(dst, `,"label_category":"`...)
			dst = append(dst, class.String()...)
			dst = append(dst, '"')
		}
	}
	if namesConnection(&v.Conn) {
		dst = append(dst, `,"connection":`...)
		dst = appendConnection(dst, &v.Conn)
	}
	dst = appendExplanation(dst, v.Explanation)
	if !f.Record {
		return append(dst, '}')
	}
	dst = append(dst, `,"record":{`...)
	dst = v.Record.AppendJSONFields(dst)
	return append(dst, "}}"...)
}

// OCSFVersion is the OCSF schema version the ocsf format follows.
const OCSFVersion = "1.3.0"

// OCSFFormat is an OCSF Detection Finding (class_uid 2004, activity Create).
// Every record gets one, benign ones with severity Informational, so the
// output topic keeps one document per source record.
//
// When the record names its connection:
//   - time is the connection's start (the Kafka record's time otherwise);
//   - the connection goes where OCSF 1.3.0 puts a detection's network
//     activity, the evidence (Detection Finding has no top-level endpoints):
//     evidences[0].src_endpoint and dst_endpoint {ip, port}, and
//     connection_info {direction_id, direction, uid, protocol_name,
//     protocol_num, protocol_ver_id, protocol_ver} (see appendOCSFConnection);
//   - the addresses are observables (type_id 2, IP Address), named by the
//     path of the attribute they point to ("evidences[0].src_endpoint.ip");
//   - the sensor is metadata.loggers[0].name: a logger is "the device and
//     product where events are stored ... at the source device where the
//     event occurred, a remote scanning device, intermediate hops", which is
//     what a Zeek sensor or a flow log's interface is. The finding's device
//     (and the evidence's) is the affected host, not the observer, so it
//     would mislead; metadata.product stays sagewall, which wrote the finding.
//
// An attack's finding_info.attacks lists the ATT&CK techniques of its
// category (Techniques), with ATTACKVersion. An explained verdict's largest
// contributions are finding_info.desc, in words, and unmapped.explanation. What OCSF has no attribute for
// is in unmapped: the source record, features_source, the connection's
// passthrough fields (fields), its labels, score, threshold and category
// probability.
//
// The evidence's data is the source record: its 41 fields when Record is
// set, else the three that name the kind of connection (protocol_type,
// service, flag).
type OCSFFormat struct {
	Record bool // copy the source record's 41 fields into evidences[0].data
}

// Append implements Format.
func (f OCSFFormat) Append(dst []byte, v *Verdict) []byte {
	severityID, severity := ocsfSeverity(v)
	confidence := float64(v.Result.Score)
	if !v.Result.Attack {
		confidence = 1 - confidence
	}
	confidenceID, confidenceName := ocsfConfidence(confidence)
	key := v.Source.AppendKey(make([]byte, 0, 64))

	dst = append(dst, `{"class_uid":2004,"class_name":"Detection Finding","category_uid":2,"category_name":"Findings",`...)
	dst = append(dst, `"activity_id":1,"activity_name":"Create","type_uid":200401,"type_name":"Detection Finding: Create",`...)
	dst = append(dst, `"status_id":1,"status":"New","severity_id":`...)
	dst = strconv.AppendInt(dst, int64(severityID), 10)
	dst = append(dst, `,"severity":"`...)
	dst = append(dst, severity...)
	dst = append(dst, `","time":`...)
	eventTime := v.Time
	if !v.Conn.Start.IsZero() {
		eventTime = v.Conn.Start
	}
	dst = strconv.AppendInt(dst, eventTime.UnixMilli(), 10)
	dst = append(dst, `,"confidence_id":`...)
	dst = strconv.AppendInt(dst, int64(confidenceID), 10)
	dst = append(dst, `,"confidence":"`...)
	dst = append(dst, confidenceName...)
	dst = append(dst, `","confidence_score":`...)
	dst = strconv.AppendInt(dst, int64(math.Round(clamp01(confidence)*100)), 10)
	dst = append(dst, `,"metadata":{"version":"`+OCSFVersion+`","product":{"name":"sagewall","vendor_name":"sagewall"},"uid":"`...)
	dst = appendEscaped(dst, string(key))
	dst = append(dst, '"')
	if v.Conn.Sensor != "" {
		dst = append(dst, `,"loggers":[{"name":"`...)
		dst = appendEscaped(dst, v.Conn.Sensor)
		dst = append(dst, `"}]`...)
	}
	dst = append(dst, `},"finding_info":{"uid":"`...)
	dst = appendEscaped(dst, string(key))
	dst = append(dst, `","title":"`...)
	if v.Result.Attack {
		dst = append(dst, "Network intrusion: "...)
		dst = appendEscaped(dst, v.Result.CategoryName())
		if v.Result.Category == etl.Normal {
			dst = append(dst, " attack"...) // "unclassified attack"
		}
	} else {
		dst = append(dst, "Normal connection"...)
	}
	if len(v.Explanation) > 0 {
		dst = append(dst, `","desc":"`...)
		dst = appendExplanationWords(dst, v.Explanation)
	}
	dst = append(dst, `","types":["`...)
	dst = appendEscaped(dst, v.Result.CategoryName())
	dst = append(dst, `"],"analytic":{"name":"`...)
	dst = appendEscaped(dst, v.Model.Name)
	dst = append(dst, `","type_id":4,"type":"Learning (ML/DL)","uid":"`...)
	dst = appendEscaped(dst, v.Model.SHA256)
	dst = append(dst, `","version":"`...)
	dst = appendEscaped(dst, v.Model.Version)
	dst = append(dst, `"}`...)
	if v.Result.Attack {
		if attacks := ocsfAttacksOf(v.Result.Category); attacks != "" {
			dst = append(dst, `,"attacks":`...)
			dst = append(dst, attacks...)
		}
	}
	dst = append(dst, `},"evidences":[{"data":{`...)
	if f.Record {
		dst = v.Record.AppendJSONFields(dst)
	} else {
		dst = append(dst, `"protocol_type":"`...)
		dst = appendEscaped(dst, v.Record.ProtocolType)
		dst = append(dst, `","service":"`...)
		dst = appendEscaped(dst, v.Record.Service)
		dst = append(dst, `","flag":"`...)
		dst = appendEscaped(dst, v.Record.Flag)
		dst = append(dst, '"')
	}
	dst = append(dst, '}')
	dst = appendOCSFConnection(dst, &v.Conn)
	dst = append(dst, `}]`...)
	if v.Conn.OrigAddr.IsValid() || v.Conn.RespAddr.IsValid() {
		dst = appendOCSFObservables(dst, &v.Conn)
	}
	dst = append(dst, `,"unmapped":{"source":`...)
	dst = appendSource(dst, v.Source)
	dst = append(dst, `,"features_source":"`...)
	dst = appendEscaped(dst, featuresSource(v))
	dst = append(dst, '"')
	if len(v.Conn.Extra) > 0 {
		dst = append(dst, `,"fields":`...)
		dst = appendFields(dst, v.Conn.Extra)
	}
	dst = append(dst, `,"score":`...)
	dst = appendFloat(dst, float64(v.Result.Score), 32)
	dst = append(dst, `,"threshold":`...)
	dst = appendFloat(dst, v.Threshold, 64)
	dst = append(dst, `,"category_probability":`...)
	dst = appendFloat(dst, float64(v.Result.CategoryProb), 32)
	if v.Record.Label != "" {
		dst = append(dst, `,"label":"`...)
		dst = appendEscaped(dst, v.Record.Label)
		dst = append(dst, '"')
	}
	if v.Conn.DetailLbl != "" {
		dst = append(dst, `,"detailed_label":"`...)
		dst = appendEscaped(dst, v.Conn.DetailLbl)
		dst = append(dst, '"')
	}
	dst = appendExplanation(dst, v.Explanation)
	return append(dst, "}}"...)
}

// ocsfSeverity is the finding's OCSF severity_id and name (see Severity).
func ocsfSeverity(v *Verdict) (int, string) {
	return Severity(v.Result.Attack, v.Result.Category, v.Result.Score)
}

// Severity grades a verdict by what its category means for the target,
// raised one level when the model is very sure (score ≥ 0.99), as OCSF's
// severity_id and name:
//
//	benign                      1 Informational
//	dos, probe, unclassified    3 Medium   (4 High at score ≥ 0.99)
//	r2l, u2r (access gained)    4 High     (5 Critical at score ≥ 0.99)
//
// It was the score alone, so 97 % of attack findings were Critical; by
// category, Critical is a confident remote-to-local or user-to-root attack.
func Severity(attack bool, category etl.Class, score float32) (int, string) {
	if !attack {
		return 1, "Informational"
	}
	level := 3
	if category == etl.R2L || category == etl.U2R {
		level = 4
	}
	if score >= 0.99 {
		level++
	}
	if level == 5 {
		return 5, "Critical"
	}
	if level == 4 {
		return 4, "High"
	}
	return 3, "Medium"
}

// ocsfConfidence maps the probability of the predicted outcome to
// OCSF confidence_id.
func ocsfConfidence(p float64) (int, string) {
	switch {
	case p >= 0.85:
		return 3, "High"
	case p >= 0.60:
		return 2, "Medium"
	default:
		return 1, "Low"
	}
}

func clamp01(f float64) float64 {
	if math.IsNaN(f) {
		return 0
	}
	return math.Min(1, math.Max(0, f))
}

// appendEscapedKey appends s.AppendKey's key escaped for a JSON string,
// escaping only its name rather than building the key apart first.
func appendEscapedKey(dst []byte, s Source) []byte {
	return s.appendKeyPosition(appendEscaped(dst, s.keyName()))
}

func appendSource(dst []byte, s Source) []byte {
	if s.File != "" {
		dst = append(dst, `{"file":"`...)
		dst = appendEscaped(dst, s.File)
		dst = append(dst, `","line":`...)
		dst = strconv.AppendInt(dst, int64(s.Line), 10)
		return append(dst, '}')
	}
	dst = append(dst, `{"topic":"`...)
	dst = appendEscaped(dst, s.Topic)
	dst = append(dst, `","partition":`...)
	dst = strconv.AppendInt(dst, int64(s.Partition), 10)
	dst = append(dst, `,"offset":`...)
	dst = strconv.AppendInt(dst, s.Offset, 10)
	return append(dst, '}')
}

// appendFloat writes f as a JSON number; NaN and infinities, which JSON
// cannot represent, become null.
func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(dst, "null"...)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

const hexDigits = "0123456789abcdef"

// appendRFC3339Nano appends t in UTC as time.RFC3339Nano does, in a third
// of AppendFormat's time; years outside 0–9999 take AppendFormat.
func appendRFC3339Nano(dst []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(dst, time.RFC3339Nano)
	}
	hour, minute, second := t.Clock()
	dst = append(dst, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+second/10), byte('0'+second%10))
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i >= 1; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, frac[:n]...)
	}
	return append(dst, 'Z')
}

// mayNeedEscape reports whether one of the eight bytes in x is a control
// character, '"', '\\' or not ASCII (the bit tricks of "Bit Twiddling
// Hacks": v-0x01… & ^v & 0x80… is non-zero exactly when a byte of v is 0).
func mayNeedEscape(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^('"'*ones), x^('\\'*ones)
	control := (x - 0x20*ones) & ^x
	return (control|(quote-ones)&^quote|(backslash-ones)&^backslash|x)&highs != 0
}

// appendEscaped writes s as the inside of a JSON string. Runs of bytes
// that need no escaping are found eight at a time and copied whole: byte
// by byte, escaping was a third of the cost of a compact verdict (the
// model's SHA-256 alone is 64 bytes).
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		start := i
		for i+8 <= len(s) && !mayNeedEscape(uint64(s[i])|uint64(s[i+1])<<8|uint64(s[i+2])<<16|uint64(s[i+3])<<24|
			uint64(s[i+4])<<32|uint64(s[i+5])<<40|uint64(s[i+6])<<48|uint64(s[i+7])<<56) {
			i += 8
		}
		for i < len(s) && s[i] >= 0x20 && s[i] != '"' && s[i] != '\\' && s[i] < utf8.RuneSelf {
			i++
		}
		dst = append(dst, s[start:i]...)
		if i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}
