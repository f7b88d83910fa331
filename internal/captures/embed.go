//go:build !nogpl

package captures

import "embed"

// Stratosphere reports whether this build embeds the Stratosphere
// Laboratory's captures (GPL-2.0): true unless built with -tags nogpl.
const Stratosphere = true

// zeekFiles is embedded at build time; the package-level embed variable is
// the project's accepted exception to "no globals" (it is read-only).
//
//go:embed zeek
var zeekFiles embed.FS
