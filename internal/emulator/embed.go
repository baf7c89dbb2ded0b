package emulator

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
)

// defaultDimensions keeps emulator vectors short; callers may ask for more.
const (
	defaultDimensions = 8
	maxDimensions     = 3072
)

// embedVector derives a vector from the text alone, so the same text embeds
// identically through every provider and model. Components are multiples of
// 2^-15 in [-1, 1): exact in float32 and float64, so the JSON float and the
// base64 float32 encodings carry exactly the same numbers.
func embedVector(text string, dims int) []float64 {
	out := make([]float64, dims)
	var block []byte
	for i := range out {
		if i%16 == 0 {
			block = hashBytes("embedding", fmt.Sprint(i/16), text)
		}
		v := binary.LittleEndian.Uint16(block[(i%16)*2:])
		out[i] = float64(int32(v)-32768) / 32768
	}
	return out
}

// base64Floats is OpenAI's encoding_format=base64: little-endian float32s.
func base64Floats(v []float64) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(f)))
	}
	return base64.StdEncoding.EncodeToString(b)
}
