// The reference side of test/audit/tlog-interop.test.ts: Go's golang.org/x/mod/sumdb/note and
// golang.org/x/mod/sumdb/tlog check what Custodian produces (notes, tiles, proofs, paths) and
// produce what Custodian must accept. It reads one JSON request on stdin and writes one JSON
// answer on stdout; every check's outcome is reported, never decided here.
//
// Build: GO111MODULE=off GOPATH=/usr/share/gocode go build -o tlog-interop main.go
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type tileIn struct {
	Path string `json:"path"` // C2SP form: tile/<L>/<N>[.p/<W>]
	Data []byte `json:"data"`
}

type inclusionIn struct {
	Index int64       `json:"index"`
	Size  int64       `json:"size"`
	Leaf  tlog.Hash   `json:"leaf"`
	Root  tlog.Hash   `json:"root"`
	Proof []tlog.Hash `json:"proof"`
}

type consistencyIn struct {
	Old     int64       `json:"old"`
	New     int64       `json:"new"`
	OldRoot tlog.Hash   `json:"oldRoot"`
	NewRoot tlog.Hash   `json:"newRoot"`
	Proof   []tlog.Hash `json:"proof"`
}

type request struct {
	// Notes to open with the log's verifier key and the cosigners' (type 0x04) keys.
	Notes     []string `json:"notes"`
	Vkey      string   `json:"vkey"`
	Cosigners []string `json:"cosigners"`
	// A tree: its leaves' data, its size and root, and Custodian's tiles of it.
	Leaves [][]byte  `json:"leaves"`
	Size   int64     `json:"size"`
	Root   tlog.Hash `json:"root"`
	Tiles  []tileIn  `json:"tiles"`
	// Sizes whose root to compute over Custodian's tiles; proofs to make over them.
	TreeSizes        []int64    `json:"treeSizes"`
	ProveInclusion   [][2]int64 `json:"proveInclusion"`   // [index, size]
	ProveConsistency [][2]int64 `json:"proveConsistency"` // [old, new]
	// Custodian's proofs to check.
	Inclusion   []inclusionIn   `json:"inclusion"`
	Consistency []consistencyIn `json:"consistency"`
	// Paths to parse, stored hash indexes to place in tiles.
	Paths       []string `json:"paths"`
	TileIndexes []int64  `json:"tileIndexes"`
	// A checkpoint text for Go to sign (key name = origin) and cosign at CosignTime.
	Sign       string `json:"sign"`
	CosignTime uint64 `json:"cosignTime"`
	Seed       []byte `json:"seed"`
}

type openedNote struct {
	Text     string   `json:"text"`
	Verified []string `json:"verified"`
	Error    string   `json:"error,omitempty"`
}

type parsedPath struct {
	Level int    `json:"level"`
	N     int64  `json:"n"`
	Width int    `json:"width"`
	Path  string `json:"path"` // Go's Tile.Path, height element removed
	Error string `json:"error,omitempty"`
}

type answer struct {
	Notes             []openedNote     `json:"notes"`
	TileErrors        []string         `json:"tileErrors"`
	TreeHashes        map[int64]string `json:"treeHashes"`
	Inclusion         []string         `json:"inclusion"`
	Consistency       []string         `json:"consistency"`
	ProvedInclusion   [][]tlog.Hash    `json:"provedInclusion"`
	ProvedConsistency [][]tlog.Hash    `json:"provedConsistency"`
	Paths             []parsedPath     `json:"paths"`
	TileForIndex      []parsedPath     `json:"tileForIndex"`
	Signed            string           `json:"signed,omitempty"`
	Vkey              string           `json:"vkey,omitempty"`
	CosignerVkey      string           `json:"cosignerVkey,omitempty"`
	Errors            []string         `json:"errors"`
}

const height = 8

// goPath turns a C2SP tile path into Go's (tile/8/<L>/…); entries stay as they are.
func goPath(p string) string {
	if strings.HasPrefix(p, "tile/entries/") {
		return p
	}
	return "tile/8/" + strings.TrimPrefix(p, "tile/")
}

func c2spPath(p string) string { return "tile/" + strings.TrimPrefix(p, "tile/8/") }

// cosigner verifies C2SP tlog-cosignature/v1 (type 0x04) signatures: the note package hands it
// the note text and the signature bytes after the key ID.
type cosigner struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (c *cosigner) Name() string    { return c.name }
func (c *cosigner) KeyHash() uint32 { return c.hash }
func (c *cosigner) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	signed := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
	return ed25519.Verify(c.key, signed, sig[8:])
}

func keyID(name string, typ byte, key []byte) uint32 {
	h := sha256.Sum256(append(append([]byte(name+"\n"), typ), key...))
	return binary.BigEndian.Uint32(h[:4])
}

func newCosigner(vkey string) (*cosigner, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, fmt.Errorf("malformed cosigner key")
	}
	material, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(material) != 33 || material[0] != 0x04 {
		return nil, fmt.Errorf("not a cosignature/v1 key")
	}
	c := &cosigner{name: parts[0], key: ed25519.PublicKey(material[1:]), hash: keyID(parts[0], 0x04, material[1:])}
	if fmt.Sprintf("%08x", c.hash) != parts[1] {
		return nil, fmt.Errorf("cosigner key hash mismatch")
	}
	return c, nil
}

type tileMap map[string][]byte // by Go path of the widest version: tile/8/<L>/<N>

func (m tileMap) Height() int { return height }
func (m tileMap) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		full := t
		full.W = 1 << height
		data, ok := m[full.Path()]
		if !ok || len(data) < t.W*tlog.HashSize {
			return nil, fmt.Errorf("missing tile %s", t.Path())
		}
		out[i] = data[:t.W*tlog.HashSize]
	}
	return out, nil
}
func (m tileMap) SaveTiles([]tlog.Tile, [][]byte) {}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "request:", err)
		os.Exit(2)
	}
	ans := answer{TreeHashes: map[int64]string{}, Errors: []string{}, TileErrors: []string{}}

	// Notes.
	var verifiers []note.Verifier
	if req.Vkey != "" {
		v, err := note.NewVerifier(req.Vkey)
		if err != nil {
			ans.Errors = append(ans.Errors, "vkey: "+err.Error())
		} else {
			verifiers = append(verifiers, v)
		}
	}
	for _, k := range req.Cosigners {
		c, err := newCosigner(k)
		if err != nil {
			ans.Errors = append(ans.Errors, "cosigner: "+err.Error())
			continue
		}
		verifiers = append(verifiers, c)
	}
	for _, msg := range req.Notes {
		n, err := note.Open([]byte(msg), note.VerifierList(verifiers...))
		o := openedNote{Verified: []string{}}
		if err != nil {
			o.Error = err.Error()
		} else {
			o.Text = n.Text
			for _, s := range n.Sigs {
				o.Verified = append(o.Verified, fmt.Sprintf("%s+%08x", s.Name, s.Hash))
			}
		}
		ans.Notes = append(ans.Notes, o)
	}

	// The tree: Go's own stored hashes from the leaves, then Custodian's tiles checked against them.
	var stored []tlog.Hash
	goHashes := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("no stored hash %d", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, data := range req.Leaves {
		hashes, err := tlog.StoredHashes(int64(i), data, goHashes)
		if err != nil {
			ans.Errors = append(ans.Errors, "StoredHashes: "+err.Error())
			break
		}
		stored = append(stored, hashes...)
	}
	tiles := tileMap{}
	for _, t := range req.Tiles {
		p := goPath(t.Path)
		tile, err := tlog.ParseTilePath(p)
		if err != nil {
			ans.TileErrors = append(ans.TileErrors, t.Path+": "+err.Error())
			continue
		}
		if len(req.Leaves) > 0 {
			want, err := tlog.ReadTileData(tile, goHashes)
			if err != nil || !bytes.Equal(want, t.Data) {
				ans.TileErrors = append(ans.TileErrors, t.Path+": differs from Go's tile of the same leaves")
			}
		}
		full := tile
		full.W = 1 << height
		tiles[full.Path()] = t.Data
	}
	if req.Size > 0 {
		reader := tlog.TileHashReader(tlog.Tree{N: req.Size, Hash: req.Root}, tiles)
		for _, n := range req.TreeSizes {
			h, err := tlog.TreeHash(n, reader)
			if err != nil {
				ans.TreeHashes[n] = "error: " + err.Error()
			} else {
				ans.TreeHashes[n] = h.String()
			}
		}
		for _, p := range req.ProveInclusion {
			proof, err := tlog.ProveRecord(p[1], p[0], reader)
			if err != nil {
				ans.Errors = append(ans.Errors, "ProveRecord: "+err.Error())
			}
			ans.ProvedInclusion = append(ans.ProvedInclusion, proof)
		}
		for _, p := range req.ProveConsistency {
			proof, err := tlog.ProveTree(p[1], p[0], reader)
			if err != nil {
				ans.Errors = append(ans.Errors, "ProveTree: "+err.Error())
			}
			ans.ProvedConsistency = append(ans.ProvedConsistency, proof)
		}
	}
	for _, c := range req.Inclusion {
		ans.Inclusion = append(ans.Inclusion, errString(tlog.CheckRecord(c.Proof, c.Size, c.Root, c.Index, c.Leaf)))
	}
	for _, c := range req.Consistency {
		ans.Consistency = append(ans.Consistency, errString(tlog.CheckTree(c.Proof, c.New, c.NewRoot, c.Old, c.OldRoot)))
	}

	// Paths.
	for _, p := range req.Paths {
		t, err := tlog.ParseTilePath(goPath(p))
		if err != nil {
			ans.Paths = append(ans.Paths, parsedPath{Error: err.Error()})
			continue
		}
		ans.Paths = append(ans.Paths, parsedPath{Level: t.L, N: t.N, Width: t.W, Path: c2spPath(t.Path())})
	}
	for _, x := range req.TileIndexes {
		t := tlog.TileForIndex(height, x)
		ans.TileForIndex = append(ans.TileForIndex, parsedPath{Level: t.L, N: t.N, Width: t.W, Path: c2spPath(t.Path())})
	}

	// Go signs and cosigns a checkpoint for Custodian to open.
	if req.Sign != "" && len(req.Seed) == ed25519.SeedSize {
		priv := ed25519.NewKeyFromSeed(req.Seed)
		pub := priv.Public().(ed25519.PublicKey)
		name := strings.SplitN(req.Sign, "\n", 2)[0]
		vkey, err := note.NewEd25519VerifierKey(name, pub)
		if err != nil {
			ans.Errors = append(ans.Errors, "NewEd25519VerifierKey: "+err.Error())
		}
		skey := "PRIVATE+KEY+" + name + "+" + fmt.Sprintf("%08x", keyID(name, 0x01, pub)) + "+" +
			base64.StdEncoding.EncodeToString(append([]byte{0x01}, req.Seed...))
		signer, err := note.NewSigner(skey)
		if err != nil {
			ans.Errors = append(ans.Errors, "NewSigner: "+err.Error())
		} else {
			signed, err := note.Sign(&note.Note{Text: req.Sign}, signer)
			if err != nil {
				ans.Errors = append(ans.Errors, "Sign: "+err.Error())
			}
			// The witness reuses the seed reversed, under its own name.
			wseed := make([]byte, len(req.Seed))
			for i := range req.Seed {
				wseed[i] = req.Seed[len(req.Seed)-1-i]
			}
			wpriv := ed25519.NewKeyFromSeed(wseed)
			wpub := wpriv.Public().(ed25519.PublicKey)
			wname := "witness.example/go"
			msg := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", req.CosignTime)), req.Sign...)
			sig := make([]byte, 4+8, 4+8+ed25519.SignatureSize)
			binary.BigEndian.PutUint32(sig, keyID(wname, 0x04, wpub))
			binary.BigEndian.PutUint64(sig[4:], req.CosignTime)
			sig = append(sig, ed25519.Sign(wpriv, msg)...)
			ans.Signed = string(signed) + "— " + wname + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
			ans.Vkey = vkey
			ans.CosignerVkey = fmt.Sprintf("%s+%08x+%s", wname, keyID(wname, 0x04, wpub),
				base64.StdEncoding.EncodeToString(append([]byte{0x04}, wpub...)))
		}
	}

	if err := json.NewEncoder(os.Stdout).Encode(ans); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}
