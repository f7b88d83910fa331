package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sagewall/sagewall/internal/testenv"
	"github.com/sagewall/sagewall/stream"
)

// selfSignedTLS returns a server certificate for 127.0.0.1 and the path of
// its PEM, which clients use as their CA file.
func selfSignedTLS(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kfake"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, path
}

// TestRunOverTLSWithSCRAM runs the pipeline against a broker that requires
// TLS and SASL SCRAM-SHA-512, configured the way an operator would.
func TestRunOverTLSWithSCRAM(t *testing.T) {
	cert, caFile := selfSignedTLS(t)
	brokers := testenv.KFake(t,
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "sagewall", "s3cret"),
		kfake.SeedTopics(1, "in", "out", "dead"))
	env := map[string]string{
		"SAGEWALL_KAFKA_BROKERS":            brokers[0],
		"SAGEWALL_KAFKA_TLS_ENABLED":        "true",
		"SAGEWALL_KAFKA_TLS_CA_FILE":        caFile,
		"SAGEWALL_KAFKA_SASL_MECHANISM":     "scram-sha-512",
		"SAGEWALL_KAFKA_SASL_USERNAME":      "sagewall",
		"SAGEWALL_KAFKA_SASL_PASSWORD":      "s3cret",
		"SAGEWALL_INPUT_TOPIC":              "in",
		"SAGEWALL_OUTPUT_TOPIC":             "out",
		"SAGEWALL_OUTPUT_DEAD_LETTER_TOPIC": "dead",
		"SAGEWALL_HTTP_ADDR":                "127.0.0.1:0",
	}
	cfg, err := loadRunConfig("run", nil, envOf(env), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := kafkaConn(ctx, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if conn.SASL == nil || conn.SASL.Name() != "SCRAM-SHA-512" || conn.TLS == nil || conn.TLS.RootCAs == nil {
		t.Fatalf("connection settings = %+v", conn)
	}
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: "in", Transport: conn.Transport(), RequiredAcks: kafka.RequireAll, BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(ctx, kafka.Message{Value: []byte("0,tcp,private,S0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,123,6,1.00,1.00,0.00,0.00,0.05,0.07,0.00,255,26,0.10,0.05,0.00,0.00,1.00,1.00,0.00,0.00,neptune,19")}); err != nil {
		t.Fatalf("producing over TLS+SCRAM: %v", err)
	}
	w.Close()

	svc, err := newService(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), withLagInterval(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.run(runCtx) }()
	for {
		offsets, err := stream.GroupOffsets(ctx, svc.client, cfg.Input.Group, "in")
		if err == nil && offsets[0].Committed == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("not committed over TLS+SCRAM: %+v %v", offsets, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A wrong password is refused by the broker.
	cfg.Kafka.SASL.Password = "wrong"
	bad, err := kafkaConn(ctx, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = stream.GroupOffsets(ctx, stream.NewClient(brokers, bad.Transport()), "g", "in")
	if err == nil {
		t.Fatal("a wrong SCRAM password: want an authentication error")
	}
}

func TestKafkaConnMechanisms(t *testing.T) {
	for _, tt := range []struct{ mechanism, want string }{
		{"plain", "PLAIN"}, {"scram-sha-256", "SCRAM-SHA-256"}, {"scram-sha-512", "SCRAM-SHA-512"}, {"aws-msk-iam", "AWS_MSK_IAM"},
	} {
		cfg := defaultRunConfig()
		cfg.Kafka.SASL.Mechanism, cfg.Kafka.SASL.Username, cfg.Kafka.SASL.Password = tt.mechanism, "u", "p"
		cfg.Kafka.TLS.Enabled = true
		t.Setenv("AWS_REGION", "us-east-1")
		t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
		t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
		conn, err := kafkaConn(context.Background(), &cfg)
		if err != nil {
			t.Fatalf("%s: %v", tt.mechanism, err)
		}
		if conn.SASL == nil || conn.SASL.Name() != tt.want {
			t.Fatalf("%s: mechanism %v, want %s", tt.mechanism, conn.SASL, tt.want)
		}
	}
}
