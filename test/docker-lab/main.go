// lab-check loads the lab's files the way the tools that run them do, for test/docker-lab.test.ts
// (there is no Docker engine or Envoy in CI):
//
//	lab-check compose FILE   loads a compose file with compose-go, the loader of Docker Compose v2
//	                         (interpolation, normalisation, consistency checks), and prints the
//	                         resulting project as JSON
//	lab-check envoy FILE...  decodes each Envoy bootstrap (YAML, anchors included) into
//	                         go-control-plane's Bootstrap, unpacks every Any (typed_config, ...)
//	                         with the registered extension types, and runs the protoc-gen-validate
//	                         rules (ValidateAll) on every message; prints one line per file
//
// Any problem exits 1 with the file and the reason on stderr.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	// The extension types envoy-configs/ names in "@type" (registered for Any resolution).
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

func main() {
	if len(os.Args) < 3 {
		fail("usage: lab-check compose FILE | lab-check envoy FILE...")
	}
	switch os.Args[1] {
	case "compose":
		compose(os.Args[2])
	case "envoy":
		for _, f := range os.Args[2:] {
			if err := envoy(f); err != nil {
				fail(fmt.Sprintf("%s: %v", f, err))
			}
			fmt.Printf("%s: valid\n", f)
		}
	default:
		fail("unknown subcommand " + os.Args[1])
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	os.Exit(1)
}

func compose(file string) {
	abs, err := filepath.Abs(file)
	if err != nil {
		fail(err.Error())
	}
	// No .env and no OS environment: the lab must not depend on the caller's shell.
	opts, err := cli.NewProjectOptions([]string{abs}, cli.WithWorkingDirectory(filepath.Dir(abs)), cli.WithDiscardEnvFile, cli.WithEnv(nil))
	if err != nil {
		fail(err.Error())
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fail(fmt.Sprintf("%s: %v", file, err))
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fail(err.Error())
	}
	os.Stdout.Write(out)
}

func envoy(file string) error {
	text, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	js, err := yaml.YAMLToJSON(text)
	if err != nil {
		return fmt.Errorf("YAML: %w", err)
	}
	var b bootstrapv3.Bootstrap
	if err := (protojson.UnmarshalOptions{}).Unmarshal(js, &b); err != nil {
		return fmt.Errorf("Bootstrap: %w", err)
	}
	return validate(b.ProtoReflect(), "bootstrap")
}

type validator interface{ ValidateAll() error }

// validate runs the message's own rules, then those of every nested message, unpacking Any values
// (their rules are not checked by the enclosing message's ValidateAll).
func validate(m protoreflect.Message, path string) error {
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		return validate(inner.ProtoReflect(), fmt.Sprintf("%s(%s)", path, a.GetTypeUrl()))
	}
	if v, ok := m.Interface().(validator); ok {
		if err := v.ValidateAll(); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind && fd.Kind() != protoreflect.GroupKind {
			return true
		}
		at := path + "." + string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = validate(l.Get(i).Message(), fmt.Sprintf("%s[%d]", at, i))
			}
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					err = validate(mv.Message(), fmt.Sprintf("%s[%s]", at, k.String()))
					return err == nil
				})
			}
		default:
			err = validate(v.Message(), at)
		}
		return err == nil
	})
	return err
}
