//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "cmd/worker runs only inside workerd: build it with `make worker` and serve it with `npx wrangler dev`")
	os.Exit(2)
}
