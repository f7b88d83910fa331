package dashboard

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sagewall/sagewall/connlog"
	"github.com/sagewall/sagewall/sinks"
)

// Bounds of one kept alert: a record's strings come from the wire, so a
// long label or sensor name must not make the history large.
const (
	maxKeptText        = 200 // bytes of any one string
	maxKeptFields      = 8   // passthrough fields of the connection
	maxKeptExplanation = 8   // contributions (the pipeline explains the top 5)
)

// kept is one alert in the history: a bounded copy of its verdict, so that
// its verdict document can be rendered when an analyst opens it rather than
// on the pipeline's hot path.
type kept struct {
	id      uint64
	at      time.Time // the verdict's time, or when it arrived when it had none
	verdict sinks.Verdict
}

// keep copies v into the history ring, over the oldest alert once full.
// Called with l.mu held.
func (l *Live) keep(v *sinks.Verdict, now time.Time) {
	slot := l.history.push()
	l.lastID++
	slot.id = l.lastID
	slot.at = v.Time
	if slot.at.IsZero() {
		slot.at = now
	}
	boundedCopy(&slot.verdict, v)
}

// boundedCopy copies v into dst, capping its strings and lists, and reusing
// dst's explanation and fields: the pipeline reuses v's after the batch.
func boundedCopy(dst, v *sinks.Verdict) {
	explanation, fields := dst.Explanation[:0], dst.Conn.Extra[:0]
	*dst = *v
	dst.Source.Topic = capText(v.Source.Topic)
	dst.Record.Label = capText(v.Record.Label)
	// Only what the verdict document shows of the connection; its other
	// facts (bytes, history, ...) made the features the record already has.
	dst.Conn = connlog.Conn{
		Format: v.Conn.Format, Start: v.Conn.Start, UID: capText(v.Conn.UID),
		OrigAddr: v.Conn.OrigAddr, OrigPort: v.Conn.OrigPort, RespAddr: v.Conn.RespAddr, RespPort: v.Conn.RespPort,
		Proto: capText(v.Conn.Proto), Sensor: capText(v.Conn.Sensor),
		Label: capText(v.Conn.Label), DetailLbl: capText(v.Conn.DetailLbl),
	}
	for _, f := range v.Conn.Extra[:min(len(v.Conn.Extra), maxKeptFields)] {
		fields = append(fields, connlog.Field{Name: capText(f.Name), Value: capText(f.Value)})
	}
	if len(fields) > 0 {
		dst.Conn.Extra = fields
	}
	dst.Explanation = append(explanation, v.Explanation[:min(len(v.Explanation), maxKeptExplanation)]...)
	if len(dst.Explanation) == 0 {
		dst.Explanation = nil
	}
}

// capText cuts s to maxKeptText bytes at a character boundary, marking the
// cut with an ellipsis; short strings are returned as they are (no copy).
func capText(s string) string {
	if len(s) <= maxKeptText {
		return s
	}
	cut := maxKeptText - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Hosts names the connection an alert was on, when the record named it.
type Hosts struct {
	SrcIP     string `json:"src_ip,omitempty"`
	SrcPort   uint16 `json:"src_port"`
	DstIP     string `json:"dst_ip,omitempty"`
	DstPort   uint16 `json:"dst_port"`
	Transport string `json:"transport,omitempty"`
	UID       string `json:"uid,omitempty"` // Zeek's connection uid
	Sensor    string `json:"sensor,omitempty"`
}

// Position is where the alert's record was read: its idempotency key.
type Position struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
}

// Alert is one verdict of the history, as the page lists it and exports it.
type Alert struct {
	ID       uint64    `json:"id"`
	Time     time.Time `json:"time"`
	Source   string    `json:"source"` // topic/partition/offset
	Position Position  `json:"position"`
	Score    float32   `json:"score"`
	Category string    `json:"category"` // normal, dos, probe, r2l, u2r or unclassified
	Protocol string    `json:"protocol_type"`
	Service  string    `json:"service"`
	Flag     string    `json:"flag"`
	Label    string    `json:"label,omitempty"`
	Flow     string    `json:"flow,omitempty"`   // "src:port → dst:port/transport (sensor s)", when the record named its connection
	Hosts    *Hosts    `json:"hosts,omitempty"`  // the same, field by field
	ATTACK   string    `json:"attack,omitempty"` // the category's ATT&CK techniques, "T1046 Network Service Discovery (TA0007 Discovery)"
	Why      string    `json:"why,omitempty"`    // the explanation's first phrases, when the verdict was explained
}

// alertOf lists a kept alert.
func alertOf(k *kept) Alert {
	v := &k.verdict
	a := Alert{
		ID: k.id, Time: k.at, Source: v.Source.Key(),
		Position: Position{Topic: v.Source.Topic, Partition: v.Source.Partition, Offset: v.Source.Offset},
		Score:    v.Result.Score, Category: v.Result.CategoryName(),
		Protocol: v.Record.ProtocolType, Service: v.Record.Service, Flag: v.Record.Flag, Label: v.Record.Label,
		Flow: sinks.FlowOf(&v.Conn), Why: sinks.WhyOf(v.Explanation),
	}
	a.ATTACK = attackOf[predictedClass(v.Result)]
	c := &v.Conn
	if c.OrigAddr.IsValid() || c.RespAddr.IsValid() || c.UID != "" || c.Sensor != "" {
		a.Hosts = &Hosts{SrcIP: addrText(c.OrigAddr), SrcPort: c.OrigPort, DstIP: addrText(c.RespAddr), DstPort: c.RespPort,
			Transport: c.Proto, UID: c.UID, Sensor: c.Sensor}
	}
	return a
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// AlertFilter selects alerts of the history; its zero value selects all.
type AlertFilter struct {
	Category string       // a category name (Alert.Category); "" for any
	Service  string       // exact service; "" for any
	Host     netip.Prefix // source or destination address within it; invalid for any
	MinScore float32      // score at least
	MaxScore float32      // score at most; 0 means 1
	Text     string       // in the label, service, flag, uid, sensor, source topic, techniques or explanation; ASCII letters in any case
	Until    uint64       // only alerts up to this ID, 0 for up to the newest: what a paused page shows
}

// matcher is a filter ready to run over the history: the text lowered
// once, the categories whose techniques contain it decided once.
type matcher struct {
	AlertFilter
	maxScore  float32
	text      string // lowered
	techMatch [numPredicted]bool
}

func newMatcher(f AlertFilter) *matcher {
	m := &matcher{AlertFilter: f, maxScore: f.MaxScore, text: strings.ToLower(f.Text)}
	if m.maxScore == 0 {
		m.maxScore = 1
	}
	for c := range m.techMatch {
		m.techMatch[c] = m.text != "" && containsFold(attackOf[c], m.text)
	}
	return m
}

// matches reports whether the filter selects k.
func (m *matcher) matches(k *kept) bool {
	v := &k.verdict
	score := v.Result.Score
	switch {
	case m.Until != 0 && k.id > m.Until:
		return false
	case score < m.MinScore || score > m.maxScore:
		return false
	case m.Service != "" && v.Record.Service != m.Service:
		return false
	case m.Category != "" && v.Result.CategoryName() != m.Category:
		return false
	case m.Host.IsValid() && !m.Host.Contains(v.Conn.OrigAddr.Unmap()) && !m.Host.Contains(v.Conn.RespAddr.Unmap()):
		return false
	}
	if m.text == "" || m.techMatch[predictedClass(v.Result)] {
		return true
	}
	for _, s := range [...]string{v.Record.Label, v.Record.Service, v.Record.Flag, v.Conn.UID, v.Conn.Sensor, v.Source.Topic} {
		if containsFold(s, m.text) {
			return true
		}
	}
	for i := range v.Explanation {
		if containsFold(v.Explanation[i].Why, m.text) || containsFold(v.Explanation[i].Feature, m.text) {
			return true
		}
	}
	return false
}

// containsFold reports whether lower, a lower-cased string, is in s,
// ignoring case, without the allocation of lowering s: it runs on every kept
// alert for every query. Candidates are found by their first byte, folded
// for ASCII, then compared with strings.EqualFold.
func containsFold(s, lower string) bool {
	n := len(lower)
	if n == 0 {
		return true
	}
	first := lower[0]
	for i := 0; i+n <= len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c == first && strings.EqualFold(s[i:i+n], lower) {
			return true
		}
	}
	return false
}

// ParseHost reads a host filter: an address (matching it alone) or a CIDR
// prefix; "" for any host.
func ParseHost(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return netip.Prefix{}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("parsing host %q: %w", s, err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parsing host %q: want an address or a CIDR prefix: %w", s, err)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Facet is one value of a field across the history, with how many alerts have it.
type Facet struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// AlertPage is the answer to a query of the history.
type AlertPage struct {
	Alerts     []Alert `json:"alerts"`  // newest first, at most the limit asked for
	Matched    int     `json:"matched"` // alerts the filter selects
	Kept       int     `json:"kept"`
	Capacity   int     `json:"capacity"`
	NewestID   uint64  `json:"newest_id"`
	Categories []Facet `json:"categories"` // over the whole history, so the page's choices do not vanish as it filters
	Services   []Facet `json:"services"`
}

// Alerts returns the newest limit alerts the filter selects, newest first.
// The lock is held for one pass over the history; the alerts are listed
// after it is released.
func (l *Live) Alerts(f AlertFilter, limit int) AlertPage {
	var page AlertPage
	var picked []kept
	services := map[string]int{}
	categories := map[string]int{}
	m := newMatcher(f)
	l.mu.Lock()
	page.Kept, page.Capacity, page.NewestID = l.history.len(), l.historySize, l.lastID
	for i := range l.history.len() {
		k := l.history.newest(i)
		services[k.verdict.Record.Service]++
		categories[k.verdict.Result.CategoryName()]++
		if !m.matches(k) {
			continue
		}
		page.Matched++
		if len(picked) < limit {
			picked = append(picked, copyKept(k))
		}
	}
	l.mu.Unlock()
	page.Alerts = make([]Alert, len(picked))
	for i := range picked {
		page.Alerts[i] = alertOf(&picked[i])
	}
	page.Categories, page.Services = facets(categories), facets(services)
	return page
}

// copyKept copies a kept alert out of the ring: its explanation and fields
// are reused when the slot is.
func copyKept(k *kept) kept {
	c := *k
	c.verdict.Explanation = slices.Clone(k.verdict.Explanation)
	c.verdict.Conn.Extra = slices.Clone(k.verdict.Conn.Extra)
	return c
}

// facets orders counts most frequent first, then by value.
func facets(counts map[string]int) []Facet {
	out := make([]Facet, 0, len(counts))
	for v, n := range counts {
		out = append(out, Facet{Value: v, Count: n})
	}
	slices.SortFunc(out, func(a, b Facet) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Value, b.Value))
	})
	return out
}

// AlertDetail is one alert with all the page's drawer shows.
type AlertDetail struct {
	Alert
	// Verdict is the verdict document as the verdict topic carries it
	// (sinks.JSONFormat), with the record's 41 fields.
	Verdict     json.RawMessage `json:"verdict"`
	Explanation []Contribution  `json:"explanation"`
}

// Contribution is one feature's part in the score, with a missing value as null.
type Contribution struct {
	Feature      string   `json:"feature"`
	Value        *float32 `json:"value"`
	Contribution float32  `json:"contribution"`
	Why          string   `json:"why"`
}

// Alert returns alert id with its verdict document, or false when it is not
// (or no longer) in the history.
func (l *Live) Alert(id uint64) (AlertDetail, bool) {
	l.mu.Lock()
	back := l.lastID - id // IDs are consecutive: the newest is one slot before next
	if id == 0 || id > l.lastID || back >= uint64(l.history.len()) {
		l.mu.Unlock()
		return AlertDetail{}, false
	}
	k := copyKept(l.history.newest(int(back)))
	l.mu.Unlock()
	return detailOf(&k), true
}

func detailOf(k *kept) AlertDetail {
	d := AlertDetail{Alert: alertOf(k), Explanation: make([]Contribution, len(k.verdict.Explanation))}
	d.Verdict = sinks.JSONFormat{Record: true}.Append(nil, &k.verdict)
	for i, c := range k.verdict.Explanation {
		d.Explanation[i] = Contribution{Feature: c.Feature, Contribution: c.Contribution, Why: c.Why}
		if !math.IsNaN(float64(c.Value)) {
			d.Explanation[i].Value = &c.Value
		}
	}
	return d
}

// writeAlertsJSON writes alerts as one JSON array of AlertDetail, verdict
// documents included, for jq and SIEM imports.
func writeAlertsJSON(w io.Writer, alerts []kept) error {
	enc := json.NewEncoder(w)
	if _, err := io.WriteString(w, "["); err != nil {
		return fmt.Errorf("writing alerts: %w", err)
	}
	for i := range alerts {
		if i > 0 {
			if _, err := io.WriteString(w, ","); err != nil {
				return fmt.Errorf("writing alerts: %w", err)
			}
		}
		if err := enc.Encode(detailOf(&alerts[i])); err != nil {
			return fmt.Errorf("writing alert %d: %w", alerts[i].id, err)
		}
	}
	if _, err := io.WriteString(w, "]\n"); err != nil {
		return fmt.Errorf("writing alerts: %w", err)
	}
	return nil
}

// writeAlertsCSV writes alerts as CSV, one row each under a header row.
func writeAlertsCSV(w io.Writer, alerts []kept) error {
	header := []string{"id", "time", "score", "category", "protocol_type", "service", "flag", "label",
		"src_ip", "src_port", "dst_ip", "dst_port", "transport", "uid", "sensor", "topic", "partition", "offset", "attack", "why"}
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("writing alerts: %w", err)
	}
	row := make([]string, len(header))
	for i := range alerts {
		a := alertOf(&alerts[i])
		var h Hosts
		if a.Hosts != nil {
			h = *a.Hosts
		}
		port := func(ip string, p uint16) string {
			if ip == "" {
				return ""
			}
			return strconv.Itoa(int(p))
		}
		row = append(row[:0], strconv.FormatUint(a.ID, 10), a.Time.UTC().Format(time.RFC3339Nano),
			strconv.FormatFloat(float64(a.Score), 'f', -1, 32), a.Category, a.Protocol, a.Service, a.Flag, a.Label,
			h.SrcIP, port(h.SrcIP, h.SrcPort), h.DstIP, port(h.DstIP, h.DstPort), h.Transport, h.UID, h.Sensor,
			a.Position.Topic, strconv.Itoa(a.Position.Partition), strconv.FormatInt(a.Position.Offset, 10), a.ATTACK, a.Why)
		for j := range row {
			row[j] = spreadsheetSafe(row[j])
		}
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("writing alert %d: %w", a.ID, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("writing alerts: %w", err)
	}
	return nil
}

// spreadsheetSafe keeps a spreadsheet from reading a cell as a formula (CSV
// injection: a label or sensor name comes from the wire): a cell starting
// with = + - @, a tab or a carriage return gets a leading quote.
func spreadsheetSafe(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}

// exportAlerts returns the alerts the filter selects, newest first, copied
// out of the history for an export written after the lock is released.
func (l *Live) exportAlerts(f AlertFilter) []kept {
	m := newMatcher(f)
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []kept
	for i := range l.history.len() {
		k := l.history.newest(i)
		if m.matches(k) {
			out = append(out, copyKept(k))
		}
	}
	return out
}

// keptChunk is how many alerts the history allocates at a time.
const keptChunk = 256

// alertRing holds the newest alerts in chunks of keptChunk, allocated as
// alerts come (a quiet pipeline never pays for them) and never moved: one
// slice grown by append to 10,000 alerts of ~1 KB copied ~19 MB on the way,
// 2.6 % of the CPU of a million-record run.
type alertRing struct {
	chunks [][]kept
	size   int // capacity
	n      int // alerts held, up to size
	next   int // slot the next alert takes
}

func (r *alertRing) len() int { return r.n }

func (r *alertRing) slot(i int) *kept { return &r.chunks[i/keptChunk][i%keptChunk] }

// push returns the slot of a new alert: a fresh one until the ring is full,
// then the oldest alert's.
func (r *alertRing) push() *kept {
	if r.next/keptChunk == len(r.chunks) {
		r.chunks = append(r.chunks, make([]kept, min(keptChunk, r.size-r.next)))
	}
	k := r.slot(r.next)
	r.next = (r.next + 1) % r.size
	r.n = min(r.n+1, r.size)
	return k
}

// newest returns the alert back places before the newest (0: the newest);
// back must be below len.
func (r *alertRing) newest(back int) *kept {
	return r.slot((r.next - 1 - back + 2*r.size) % r.size)
}
