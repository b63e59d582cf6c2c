package shard

// NumSlots is the number of Redis Cluster hash slots.
const NumSlots = 16384

// crcTable is CRC-16/XMODEM (polynomial 0x1021, initial value 0, no
// reflection), the checksum Redis Cluster hashes keys with.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crc16(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>8)^x]
	}
	return c
}

// Slot returns key's hash slot as Redis Cluster computes it: CRC16 of the
// key modulo 16384, or of its hash tag when the key has one. The tag is the
// text between the first '{' and the first '}' after it, when that text is
// not empty; so "{user1000}.following" and "{user1000}.followers" share a
// slot, and "{}x" hashes whole. It does not allocate.
func Slot(key []byte) uint16 {
	for i, ch := range key {
		if ch != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j > i+1 {
					key = key[i+1 : j]
				}
				return crc16(key) & (NumSlots - 1)
			}
		}
		break
	}
	return crc16(key) & (NumSlots - 1)
}
