package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferry-mesh/ferry/mesh"
)

func init() {
	register(&command{
		name:    "mesh key generate",
		usage:   "--out FILE [--json]",
		summary: "make the organisation's mesh key (file mode 0600); every node of the mesh needs a copy",
		run:     runMeshKeyGenerate,
	})
}

func runMeshKeyGenerate(ctx context.Context, e *env, args []string) error {
	fs := newFlags(commands["mesh key generate"])
	out := fs.String("out", "", "file to write the mesh key to (must not exist)")
	jsonOut := fs.Bool("json", false, "print the key file and key ID as JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out FILE is required")
	}
	key, err := mesh.GenerateKey()
	if err != nil {
		return err
	}
	if err := mesh.WriteKeyFile(*out, key); err != nil {
		if errors.Is(err, mesh.ErrKeyExists) {
			return fmt.Errorf("%s already exists and was left as it was; choose another --out path (replacing a mesh key cuts a node off from every node holding the old one)", *out)
		}
		return err
	}
	id := mesh.KeyID(key)
	if *jsonOut {
		return e.printJSON(map[string]string{"mesh_key_file": *out, "key_id": id})
	}
	fmt.Fprintf(e.stdout, "mesh key %s written to %s\n", id, *out)
	fmt.Fprintf(e.stderr, "Copy this file to every node of the organisation (ferry serve --mesh-key FILE) and keep it secret: whoever holds it can join the mesh.\n")
	return nil
}
