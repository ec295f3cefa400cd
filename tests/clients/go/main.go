// A long-running client-go client for the client test: loads the kubeconfig once, then lists pods with
// the label selector mcsa-client=<label> every interval, printing `<unix time> ok <pods>` or
// `<unix time> fail <reason>` for each call. Exits 0 on SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file")
	namespace := flag.String("namespace", "default", "namespace to list pods in")
	label := flag.String("label", "", "value of the mcsa-client label selector")
	interval := flag.Float64("interval", 2, "seconds between calls")
	flag.Parse()

	// As client-go's documentation loads a kubeconfig (its current context).
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: loading %s: %v\n", *kubeconfig, err)
		os.Exit(1)
	}
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	selector := metav1.ListOptions{LabelSelector: "mcsa-client=" + *label}
	for {
		pods, err := clientset.CoreV1().Pods(*namespace).List(ctx, selector)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			fmt.Printf("%d fail %s\n", time.Now().Unix(), reason(err))
		} else {
			fmt.Printf("%d ok %d\n", time.Now().Unix(), len(pods.Items))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Duration(*interval * float64(time.Second))):
		}
	}
}

// reason is one line of at most 200 characters: the HTTP status where the server answered, then the error.
func reason(err error) string {
	text := err.Error()
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		text = fmt.Sprintf("HTTP %d %s: %s", status.Status().Code, status.Status().Reason, text)
	}
	text = strings.Join(strings.Fields(text), " ")
	if len(text) > 200 {
		text = text[:200]
	}
	return text
}
