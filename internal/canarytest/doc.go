// Package canarytest holds the content canary proof of the privacy
// policy's "API request/response content is not retained": a unique string
// runs through every endpoint, streaming and not, and every provider, with
// a real control service behind the edge, and is then looked for
// everywhere the system keeps or emits anything. It has no code of its
// own; the proof is its test.
package canarytest
