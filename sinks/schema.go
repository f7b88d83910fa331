package sinks

import (
	_ "embed" // the verdict schema
	"slices"
)

// VerdictSchemaVersion is the version of the JSON verdict's schema
// (verdict.schema.json) that every json verdict names in schema_version.
// It follows semantic versioning: a new optional field raises the minor
// version, a field removed or changed the major one; change it and the
// schema's const together (TestVerdictSchemaVersion checks they agree).
const VerdictSchemaVersion = "1.2.0"

//go:embed verdict.schema.json
var verdictSchema []byte

// VerdictSchema returns the JSON Schema (draft 2020-12) of the verdicts
// JSONFormat writes, compact and full.
func VerdictSchema() []byte { return slices.Clone(verdictSchema) }
