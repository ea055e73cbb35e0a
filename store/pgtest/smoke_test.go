package pgtest_test

import (
	"bastion/store/pgtest"
	"testing"
)

func TestSmoke(t *testing.T) {
	c := pgtest.Start(t)
	u := c.NewDatabase(t)
	db := c.Open(t, u)
	var v string
	if err := db.QueryRow("select version()").Scan(&v); err != nil {
		t.Fatal(err)
	}
	t.Log(v)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err == nil {
		t.Fatal("ping after stop")
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("select version()").Scan(&v); err != nil {
		t.Fatal(err)
	}
}
