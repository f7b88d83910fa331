package connlog

// identityField is the Conn field an identity key of a non-Zeek JSON record
// names: the spellings producers enrich NSL-KDD records with, and Zeek's.
func identityField(key []byte) field {
	switch string(key) {
	case "src_ip", "src_addr", "srcaddr", "source_ip", "id.orig_h", "id_orig_h", "src":
		return fOrigH
	case "dst_ip", "dst_addr", "dstaddr", "destination_ip", "id.resp_h", "id_resp_h", "dst":
		return fRespH
	case "src_port", "srcport", "source_port", "id.orig_p", "id_orig_p":
		return fOrigP
	case "dst_port", "dstport", "destination_port", "id.resp_p", "id_resp_p":
		return fRespP
	case "transport", "proto":
		return fProto
	case "ts", "timestamp", "time", "event_time":
		return fTS
	case "uid", "flow_id", "conn_uid":
		return fUID
	case "sensor", "_system_name", "host_name":
		return fSensor
	}
	return fExtra
}

// ParseIdentity reads, from a JSON record that carries its own features (an
// NSL-KDD record its producer enriched), the connection it describes: the
// keys identityField knows (src_ip, dst_ip, src_port, dst_port, transport,
// ts, uid, sensor and their common spellings) and, into Extra, the keys
// named in passthrough ("*" for every other key). It reports whether the
// record named anything. Identity is best effort: a value that does not
// parse (or malformed JSON, which the feature encoder rejects anyway) is
// left out rather than failing a record whose features are fine.
func (p *Parser) ParseIdentity(line []byte, c *Conn, passthrough []string) bool {
	*c = Conn{TCPFlags: -1}
	p.strs.reset()
	named := p.parseIdentity(line, c, passthrough)
	p.strs.finish(c)
	return named
}

func (p *Parser) parseIdentity(line []byte, c *Conn, passthrough []string) bool {
	all := len(passthrough) == 1 && passthrough[0] == "*"
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return false
	}
	i++
	named := false
	for first := true; ; first = false {
		i = skipSpace(line, i)
		if i < len(line) && line[i] == '}' && first {
			break
		}
		if i >= len(line) || line[i] != '"' {
			return named
		}
		key, next, ok := p.readString(line, i, &p.keyBuf)
		if !ok {
			return named
		}
		i = skipSpace(line, next)
		if i >= len(line) || line[i] != ':' {
			return named
		}
		kind, text, end, ok := p.jsonText(line, skipSpace(line, i+1))
		if !ok {
			return named
		}
		i = end
		if f := identityField(key); f != fExtra {
			if kind != 'n' && p.setText(c, f, "", text) == nil {
				named = true
			}
		} else if all || contains(passthrough, key) {
			p.strs.addExtra(string(key), text)
			named = true
		}
		i = skipSpace(line, i)
		if i < len(line) && line[i] == ',' {
			i++
			continue
		}
		break
	}
	return named
}

func contains(names []string, key []byte) bool {
	for _, n := range names {
		if n == string(key) {
			return true
		}
	}
	return false
}
