package predict

import (
	"unicode"
	"unicode/utf8"
)

// FNV-1a (32-bit) constants. The hash is spelled out rather than taken from
// hash/fnv so that tokenizing, lowercasing and hashing happen in one pass over
// the text without building strings or allocating.
const (
	fnvOffset32 = 2166136261
	fnvPrime32  = 16777619
)

// bucketOf folds a 32-bit FNV-1a hash into one of buckets (a power of two).
// The xor-fold mixes the high bits in, since FNV's low bits alone are weak.
func bucketOf(h uint32, mask uint32) uint32 {
	return (h ^ h>>16) & mask
}

// forEachFeature calls fn with the bucket of every word unigram and bigram of
// text, in order. Words are maximal runs of letters and digits (Unicode-aware,
// with an ASCII fast path), lowercased; everything else separates words. A
// bigram is hashed exactly as the string "w1 w2" would be, computed
// incrementally from the state after "w1 ".
//
// fn must not be retained: that keeps the closures of callers on the stack.
func forEachFeature(text string, mask uint32, fn func(bucket uint32)) {
	var (
		uni, bi   uint32 // running hashes of the current word and of "prev cur"
		prevSpace uint32 // hash state after "prev " (valid when havePrev)
		inWord    bool
		havePrev  bool
	)
	endWord := func() {
		fn(bucketOf(uni, mask))
		if havePrev {
			fn(bucketOf(bi, mask))
		}
		prevSpace = (uni ^ ' ') * fnvPrime32
		havePrev = true
		inWord = false
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			default:
				if inWord {
					endWord()
				}
				continue
			}
			if !inWord {
				inWord = true
				uni, bi = fnvOffset32, prevSpace
			}
			uni = (uni ^ uint32(c)) * fnvPrime32
			bi = (bi ^ uint32(c)) * fnvPrime32
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		if r == utf8.RuneError || !(unicode.IsLetter(r) || unicode.IsDigit(r)) {
			if inWord {
				endWord()
			}
			continue
		}
		if !inWord {
			inWord = true
			uni, bi = fnvOffset32, prevSpace
		}
		var buf [utf8.UTFMax]byte
		n := utf8.EncodeRune(buf[:], unicode.ToLower(r))
		for _, b := range buf[:n] {
			uni = (uni ^ uint32(b)) * fnvPrime32
			bi = (bi ^ uint32(b)) * fnvPrime32
		}
	}
	if inWord {
		endWord()
	}
}
