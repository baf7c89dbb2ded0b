// Package control is Switchyard's control service: accounts, API keys, the
// model catalog and its prices, the credits ledger, usage metadata, and the
// edge API the gateways call.
//
// This package holds the domain: its types, the [Store] interfaces a
// database must satisfy, and [Service], the rules every caller goes through
// (the HTTP API in control/httpapi and the operator CLI alike). Technology
// lives in subpackages: control/libsql stores, control/httpapi serves.
//
// A typical wiring:
//
//	st, err := libsql.Open(ctx, libsql.FileURL(dataDir), libsql.Options{})
//	...
//	defer st.Close()
//	svc := control.NewService(st, control.Config{})
//	if err := svc.Start(ctx); err != nil { ... }
//	h := httpapi.New(svc, httpapi.Config{EdgeTokens: []string{edgeToken}})
//
// Money is integer micro-dollars everywhere (1 USD = 1,000,000). Times are
// UTC. Usage records hold request metadata only, never content.
package control
