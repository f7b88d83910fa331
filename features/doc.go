// Package features derives NSL-KDD's 41 connection features from
// connection logs (connlog.Conn), statefully and in event time, so that the
// model trained on NSL-KDD can judge Zeek conn.log and VPC Flow Log traffic.
// A Deriver fills an etl.Record (Format etl.Derived, Label "", Difficulty
// -1); etl.Encoder.EncodeRecord turns it into the model's vector.
//
// # Features
//
// Exact means as Lee & Stolfo define it, from the fields a connection log
// has; approximated means a documented stand-in; zero means a connection log
// cannot carry it.
//
//	feature                      how
//	duration                     exact: Zeek duration in whole seconds, rounded down (NSL-KDD's are integers)
//	protocol_type                exact: tcp, udp, icmp (ICMPv6 is icmp); any other transport keeps its
//	                             logged name, which EncodeRecord rejects (ErrUnknownValue → dead letter)
//	service                      approximated: the Service table below
//	flag                         approximated: the Flag table below
//	src_bytes, dst_bytes         exact: orig_bytes, resp_bytes (payload; flow logs: IP bytes), negative → 0
//	land                         exact: originator address = responder address and, except for ICMP
//	                             (whose "ports" are type and code), originator port = responder port
//	wrong_fragment, urgent       zero: conn.log records neither fragments nor URG
//	hot … is_guest_login (13)    zero: content features need the payload; note that logged_in, a
//	                             strong NSL-KDD predictor, is therefore always 0
//	count … srv_diff_host_rate   exact over the time window (below)
//	dst_host_* (10)              exact over the host window (below)
//
// Rates are rounded to two decimals, as NSL-KDD stores them. count and
// srv_count are capped at 511 (their NSL-KDD maximum); the rates use the true
// counts. "SYN error" means flag S0, S1, S2 or S3; "REJ error" means REJ.
//
// # Time window (count … srv_diff_host_rate)
//
// The connections released so far whose start lies in [t−2s, t], t being
// the current connection's start, plus the current one: both edges are
// inclusive (a connection exactly 2 s earlier counts, one 2 s + 1 ns
// earlier does not), and every count includes the current connection, so
// count ≥ 1 as in NSL-KDD. Connections starting at the same instant as the
// current one count if released before it (arrival order breaks ties).
//
//	count               connections to the same destination host
//	srv_count           connections to the same service (any host)
//	serror_rate         SYN errors among count;     rerror_rate      REJ errors among count
//	srv_serror_rate     SYN errors among srv_count; srv_rerror_rate  REJ errors among srv_count
//	same_srv_rate       same service among count;   diff_srv_rate    other services among count
//	srv_diff_host_rate  among srv_count, those to other destination hosts
//
// # Host window (dst_host_*)
//
// Lee & Stolfo built the host-based features by sorting connections by
// destination host and sliding a window of 100 connections over them: the
// window is the last 100 connections to the current connection's
// destination host (including it) that started no earlier than the host
// horizon before it (inclusive). A global window of the last 100
// connections of all traffic (the kdd99_feature_extractor reading) would
// make the features depend on which hosts share a partition; this one does
// not. So dst_host_count ≤ 100 (NSL-KDD's reach 255, a quirk of the
// original tool).
//
//	dst_host_count               connections in the window
//	dst_host_srv_count           of them, those to the same service
//	dst_host_same_srv_rate       dst_host_srv_count / dst_host_count; dst_host_diff_srv_rate its complement
//	dst_host_same_src_port_rate  of the window, those from the same originator port
//	dst_host_srv_diff_host_rate  of the same-service ones, those from other originator hosts
//	dst_host_serror_rate         SYN errors in the window; dst_host_rerror_rate REJ errors
//	dst_host_srv_serror_rate     SYN errors among the same-service ones; dst_host_srv_rerror_rate REJ errors
//
// Originators are compared by a 32-bit hash of their address.
//
// # Flag
//
// Zeek's conn_state (VPC-derived states arrive as the same names) maps to
// KDD's 11 flags, which were the Bro states of 1998:
//
//	S0 S1 S2 S3 SF REJ RSTO RSTR RSTOS0 SH OTH → the same name
//	RSTRH → RSTR  (SYN-ACK then RST from the responder, originator's SYN unseen: the responder aborted)
//	SHR   → SH    (SYN-ACK then FIN from the responder, originator's SYN unseen: SH seen from the other side)
//	"", unknown → OTH (Zeek's own "none of the above"); lower case is accepted
//
// # Service
//
// KDD's 70 services (etl.DefaultSpec().Service), resolved in this order:
//
//  1. ICMP by type (Zeek's orig_p) and code (resp_p): 8 eco_i, 0 ecr_i,
//     3/code 3 urp_i, 3/other codes urh_i, 5 red_i, 13 and 14 tim_i, any
//     other type "other" (KDD'99's oth_i is not in NSL-KDD's vocabulary).
//  2. The first item of Zeek's service list that has a KDD name: http
//     (http_8001, http_2784 on those ports), ssl/tls (the service of its
//     port when that is a KDD service, e.g. 993 imap4, else http: HTTPS), dns (domain on TCP, domain_u on UDP), ftp, ftp-data,
//     ssh, smtp, irc, pop3, imap, ldap, ntp, finger, telnet, rlogin (login),
//     rsh (shell), ident (auth), smb and netbios (netbios_*), portmapper
//     (sunrpc), nntp, tftp, bgp, gopher, whois.
//  3. The responder port, by the IANA assignment of each KDD service: TCP
//     5 rje, 7 echo, 9 discard, 11 systat, 13 daytime, 15 netstat,
//     20 ftp_data, 21 ftp, 22 ssh, 23 telnet, 25/465/587 smtp, 37 time,
//     42 name, 43 whois, 53 domain, 57 mtp, 70 gopher, 71–74 remote_job,
//     79 finger, 80/8080 http, 84 ctf, 95 supdup, 101 hostnames,
//     102 iso_tsap, 105 csnet_ns, 109 pop_2, 110/995 pop_3, 111 sunrpc,
//     113 auth, 117 uucp_path, 119/563 nntp, 137–139 netbios_ns/dgm/ssn,
//     143/993 imap4, 150 sql_net, 175 vmnet, 179 bgp, 210 Z39_50, 245 link,
//     389/636 ldap, 433 nnsp, 443 http (HTTPS; see below), 512 exec, 513 login, 514 shell,
//     515 printer, 520 efs, 530 courier, 540 uucp, 543 klogin, 544 kshell,
//     2784 http_2784, 5190 aol, 6000–6063 X11, 6667 IRC, 8001 http_8001;
//     UDP 53 domain_u, 69 tftp_u, 111 sunrpc, 123 ntp_u, 137–139 netbios_*,
//     161/162 private (NSL-KDD's SNMP attacks carry "private").
//  4. "other" when Zeek named a service KDD lacks (mysql, rdp, dhcp, ...) or
//     the port is below 1024; "private" (KDD's unassigned/ephemeral ports)
//     from 1024 up. harvest and pm_dump are never produced: no port is known.
//
// HTTPS is http, not KDD's http_443: TLS on a KDD service's port is that
// service (993 imaps is imap4, 995 pop3s pop_3), and 443 is web traffic.
// KDD's http_443 means something else: all 530 http_443 rows of KDDTrain+
// are attacks (523 neptune SYN floods), so a model reads the name alone as
// "attack". Named so, the HTTPS sessions of a real capture were 93 % of the
// connection-log model's false alarms on its benign traffic.
//
// # Event time and reordering
//
// Zeek writes a connection when it ends, so lines arrive out of start order.
// A Deriver holds each connection in a min-heap by start and releases
// (derives and emits) those starting no later than the watermark — the
// latest start seen minus the reorder window (default 5 s) — in start order,
// ties in arrival order. Features are therefore the same whatever the
// arrival order within the reorder window. A connection is also released
// once it has been held for the hold time (default 10 s, wall clock: Add's
// and Flush's now), together with every held connection starting no later,
// so a quiet stream is not stuck; Deadline says when; such releases are not
// late.
//
// Late: a connection starting before the last released one arrived after
// its window was derived. It is derived at once, as if it had started with
// the last released connection — its time window is [r−2s, r] and its host
// window ends at r, r being that start — and enters the windows there, so
// state stays in start order and the rule costs nothing. Derived.Late is
// set, Hooks.Late runs and Stats.Late counts it; Conn.Start is unchanged.
// One starting exactly with the last released one is not late.
//
// A connection with a zero Start (a masked timestamp) is placed at the
// current release position — the watermark, or the last release when that
// is later; the Unix epoch before any connection — and released at once,
// never late.
//
// # State and bounds
//
// Per destination host: its time-window counts (total, SYN and REJ errors,
// per service) and a ring of its last 100 connections (start, service, error
// class, originator port, originator hash; 16 bytes each). Per service: the
// time-window counts. One FIFO of the released connections of the last 2 s
// expires both. Hosts idle for longer than the host horizon (default
// 10 min, at least 2 s) are evicted when connections are released; beyond
// MaxHosts (default 100,000) the least recently seen host is evicted, even
// if it has connections in the time window (its counts then restart; the
// per-service counts keep them). Hooks.Evicted and Stats.Evicted count
// evictions. Held connections are bounded by the input rate times the
// reorder window or hold time, and by MaxHeld (default 200,000, ~60 MB):
// one more releases the earliest-starting held connection at once, as the
// watermark would have later (Hooks.Forced, Stats.Forced); a connection
// then arriving with an earlier start is late. Buffers are reused: no allocation per
// connection in steady state.
//
// Services are counted across all hosts a Deriver sees: with the input
// partitioned by destination host, srv_count, srv_*_rate and
// srv_diff_host_rate see only the hosts of one partition.
package features
