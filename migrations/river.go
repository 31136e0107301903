package migrations

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
)

// RiverSchemaVersion pins River's own schema to the version this build
// was tested with; raising it is a new migration here.
const RiverSchemaVersion = 8

// Go returns the migrations written in Go. Version 3 installs River's
// job tables through River's migrator, under goose's lock, so that one
// `migrate up` covers both. River applies each of its versions in a
// transaction of its own (one adds an enum value, which PostgreSQL will
// not use in the transaction that added it).
func Go() []*goose.Migration {
	return []*goose.Migration{
		goose.NewGoMigration(3,
			&goose.GoFunc{RunDB: riverUp},
			&goose.GoFunc{RunDB: riverDown}),
	}
}

func riverUp(ctx context.Context, db *sql.DB) error {
	return migrateRiver(ctx, db, rivermigrate.DirectionUp, RiverSchemaVersion)
}

func riverDown(ctx context.Context, db *sql.DB) error {
	return migrateRiver(ctx, db, rivermigrate.DirectionDown, -1)
}

func migrateRiver(ctx context.Context, db *sql.DB, dir rivermigrate.Direction, target int) error {
	m, err := rivermigrate.New(riverdatabasesql.New(db), nil)
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, dir, &rivermigrate.MigrateOpts{TargetVersion: target}); err != nil {
		return fmt.Errorf("river migrate %s: %w", dir, err)
	}
	return nil
}
