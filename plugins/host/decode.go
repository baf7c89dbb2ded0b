package host

import "github.com/switchyard-ai/switchyard/plugins/abi"

// decodePlain decodes the decisions plugins usually write (one object,
// each field at most once, spelt as ABI.md spells it, strings of printable
// ASCII without escapes, a status without fraction or exponent) without
// reflection, which made encoding/json a third of a warm call of an
// AssemblyScript plugin. It reports false for anything else, and
// decodeDecision then leaves the input to encoding/json, so that every
// decision the fast path takes decodes to what encoding/json would give
// (decode_test.go holds it to that) and every error comes from one place.
func decodePlain(b []byte) (*abi.RouteDecision, bool) {
	p := plainParser{b: b}
	d := &abi.RouteDecision{}
	var seen uint8
	p.space()
	if !p.eat('{') {
		return nil, false
	}
	p.space()
	if !p.eat('}') {
		for {
			key, ok := p.str()
			if !ok {
				return nil, false
			}
			p.space()
			if !p.eat(':') {
				return nil, false
			}
			p.space()
			var bit uint8
			switch key {
			case "action":
				bit = 1 << 0
				d.Action, ok = p.str()
			case "model":
				bit = 1 << 1
				d.Model, ok = p.str()
			case "fallbacks":
				bit = 1 << 2
				d.Fallbacks, ok = p.strs()
			case "providers":
				bit = 1 << 3
				d.Providers, ok = p.strs()
			case "headers":
				bit = 1 << 4
				d.Headers, ok = p.strMap()
			case "tags":
				bit = 1 << 5
				d.Tags, ok = p.strMap()
			case "status":
				bit = 1 << 6
				d.Status, ok = p.int()
			case "message":
				bit = 1 << 7
				d.Message, ok = p.str()
			}
			if !ok || bit == 0 || seen&bit != 0 {
				return nil, false
			}
			seen |= bit
			p.space()
			if p.eat('}') {
				break
			}
			if !p.eat(',') {
				return nil, false
			}
			p.space()
		}
	}
	p.space()
	return d, p.i == len(p.b)
}

type plainParser struct {
	b []byte
	i int
}

func (p *plainParser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *plainParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes.
func (p *plainParser) str() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return string(p.b[start : p.i-1]), true
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", false
		}
	}
	return "", false
}

// strs reads an array of such strings; [] is an empty, non-nil slice, as
// encoding/json makes it.
func (p *plainParser) strs() ([]string, bool) {
	if !p.eat('[') {
		return nil, false
	}
	out := []string{}
	p.space()
	if p.eat(']') {
		return out, true
	}
	for {
		s, ok := p.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		p.space()
		if p.eat(']') {
			return out, true
		}
		if !p.eat(',') {
			return nil, false
		}
		p.space()
	}
}

// strMap reads an object of such strings.
func (p *plainParser) strMap() (map[string]string, bool) {
	if !p.eat('{') {
		return nil, false
	}
	out := map[string]string{}
	p.space()
	if p.eat('}') {
		return out, true
	}
	for {
		k, ok := p.str()
		if !ok {
			return nil, false
		}
		p.space()
		if !p.eat(':') {
			return nil, false
		}
		p.space()
		v, ok := p.str()
		if !ok {
			return nil, false
		}
		out[k] = v
		p.space()
		if p.eat('}') {
			return out, true
		}
		if !p.eat(',') {
			return nil, false
		}
		p.space()
	}
}

// int reads an integer of at most 9 digits in JSON's grammar.
func (p *plainParser) int() (int, bool) {
	neg := p.eat('-')
	start, n := p.i, 0
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		n = n*10 + int(p.b[p.i]-'0')
		p.i++
	}
	digits := p.i - start
	if digits == 0 || digits > 9 || digits > 1 && p.b[start] == '0' {
		return 0, false
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}
