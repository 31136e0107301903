// Package migrations embeds the SQL migrations that define clerksync's
// schema. The files are the source of truth; goose applies them in order.
package migrations

import "embed"

// FS holds every migration file, named NNNNN_description.sql.
//
//go:embed *.sql
var FS embed.FS
