package libsql

import (
	"net/url"
	"reflect"
	"sort"
	"testing"
	"time"
)

func TestFileDSN(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		url     string
		opts    Options
		pragmas []string
		txlock  string
	}{
		{"defaults", "file:" + dir + "/a.db", Options{},
			[]string{"busy_timeout(10000)", "foreign_keys(1)", "secure_delete(1)", "synchronous(FULL)"}, "immediate"},
		{"options", "file:" + dir + "/a.db", Options{BusyTimeout: 2 * time.Second, SynchronousNormal: true},
			[]string{"busy_timeout(2000)", "foreign_keys(1)", "secure_delete(1)", "synchronous(NORMAL)"}, "immediate"},
		{"the URL's own settings win", "file:" + dir + "/a.db?_pragma=busy_timeout(1)&_txlock=deferred", Options{},
			[]string{"busy_timeout(1)", "foreign_keys(1)", "secure_delete(1)", "synchronous(FULL)"}, "deferred"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			dsn, err := fileDSN(u, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := url.Parse(dsn)
			if err != nil {
				t.Fatal(err)
			}
			q := got.Query()
			pragmas := q["_pragma"]
			sort.Strings(pragmas)
			if !reflect.DeepEqual(pragmas, tt.pragmas) || q.Get("_txlock") != tt.txlock {
				t.Fatalf("dsn %s: pragmas %v txlock %q", dsn, pragmas, q.Get("_txlock"))
			}
			if got.Path != dir+"/a.db" {
				t.Fatalf("path = %q", got.Path)
			}
		})
	}
}
