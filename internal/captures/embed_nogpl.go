//go:build nogpl

package captures

import "embed"

// Stratosphere reports whether this build embeds the Stratosphere
// Laboratory's captures (GPL-2.0): false, built with -tags nogpl.
const Stratosphere = false

// zeekFiles holds only Zeek's own BSD-licensed baselines; see embed.go.
//
//go:embed zeek/README.md zeek/COPYING-zeek-BSD zeek/core.* zeek/scripts.*
var zeekFiles embed.FS
