// A ClusterProfile consumer for the client test, as SIG Multicluster's cluster inventory API documents one:
// reads a ClusterProfile from the hub (the generated clientset), builds a rest.Config for its cluster from
// an access-provider file (pkg/access: NewFromFile, then BuildConfigFromCP, which runs the provider's exec
// plugin), once; then lists pods with the label selector mcsa-client=<label> in that cluster every interval,
// printing `<unix time> ok <pods>` or `<unix time> fail <reason>` for each call. Exits 0 on SIGTERM or SIGINT.
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
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ciaclient "sigs.k8s.io/cluster-inventory-api/client/clientset/versioned"
	"sigs.k8s.io/cluster-inventory-api/pkg/access"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "error: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	hub := flag.String("kubeconfig", "", "kubeconfig of the hub cluster, where the ClusterProfile is (default: in-cluster)")
	profile := flag.String("cluster-profile", "", "the ClusterProfile, NAMESPACE/NAME")
	providerFile := access.SetupProviderFileFlag()
	namespace := flag.String("namespace", "default", "namespace to list pods in, in the profile's cluster")
	label := flag.String("label", "", "value of the mcsa-client label selector")
	interval := flag.Float64("interval", 2, "seconds between calls")
	flag.Parse()
	profileNamespace, profileName, ok := strings.Cut(*profile, "/")
	if !ok {
		fail("--cluster-profile must be NAMESPACE/NAME")
	}

	// In a pod, without --kubeconfig: its service account's (no warning of client-go's on stderr).
	hubConfig, err := rest.InClusterConfig()
	if *hub != "" {
		hubConfig, err = clientcmd.BuildConfigFromFlags("", *hub)
	}
	if err != nil {
		fail("loading %s: %v", *hub, err)
	}
	inventory, err := ciaclient.NewForConfig(hubConfig)
	if err != nil {
		fail("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cp, err := inventory.ApisV1alpha1().ClusterProfiles(profileNamespace).Get(ctx, profileName, metav1.GetOptions{})
	if err != nil {
		fail("reading ClusterProfile %s: %v", *profile, err)
	}
	providers, err := access.NewFromFile(*providerFile)
	if err != nil {
		fail("reading the provider file %s: %v", *providerFile, err)
	}
	config, err := providers.BuildConfigFromCP(cp)
	if err != nil {
		fail("building a config from ClusterProfile %s: %v", *profile, err)
	}
	clientset, err := kubernetes.NewForConfig(config)
	if err != nil {
		fail("%v", err)
	}
	fmt.Printf("%d profile %s %s\n", time.Now().Unix(), *profile, config.Host)

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
