// An Argo CD consumer for the client test: Argo CD's own code reading its cluster Secrets. As Argo CD's
// application controller does (controller/cache/cache.go), it watches the cluster Secrets of Argo CD's
// namespace with util/db's WatchClusters (a Secret informer that converts each Secret with SecretToCluster),
// and builds the cluster's client with Cluster.RESTConfig() when the cluster appears and again whenever its
// Config changes (a renewal). It lists pods with the label selector mcsa-client=<label> in the cluster named
// --cluster every interval, printing `<unix time> ok <pods>` or `<unix time> fail <reason>` for each call, and
// `<unix time> cluster <JSON>` (name, server, project, namespaces, clusterResources, newClient) when it builds a
// client or those fields change,
// and `<unix time> log <level> <message>` for Argo CD's own logs.
// Exits 0 on SIGTERM or SIGINT.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	appv1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/util/db"
	"github.com/argoproj/argo-cd/v3/util/settings"
	log "github.com/sirupsen/logrus"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "error: "+format+"\n", args...)
	os.Exit(1)
}

// lineFormatter writes Argo CD's logs as the program's other lines: `<unix time> log <level> <message>`.
type lineFormatter struct{}

func (lineFormatter) Format(e *log.Entry) ([]byte, error) {
	return fmt.Appendf(nil, "%d log %s %s\n", e.Time.Unix(), e.Level, strings.Join(strings.Fields(e.Message), " ")), nil
}

// clusterClient is the client of the watched cluster, rebuilt as Argo CD rebuilds its cluster cache's.
type clusterClient struct {
	mu        sync.Mutex
	name      string
	clientset kubernetes.Interface
	config    *appv1.ClusterConfig
	shown     string
}

// set takes a cluster Argo CD read: a new client when its Config changed (Argo CD's handleModEvent), and a
// `cluster` line when that or what Argo CD shows of it (name, server, project, namespaces) changed.
func (c *clusterClient) set(cluster *appv1.Cluster) {
	if cluster.Name != c.name {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rebuild := c.config == nil || !reflect.DeepEqual(*c.config, cluster.Config)
	if rebuild {
		config, err := cluster.RESTConfig()
		var clientset kubernetes.Interface
		if err == nil {
			clientset, err = kubernetes.NewForConfig(config)
		}
		if err != nil {
			fmt.Printf("%d fail building the client of cluster %s: %s\n", time.Now().Unix(), cluster.Name, err)
			return
		}
		c.clientset, c.config = clientset, cluster.Config.DeepCopy()
	}
	shown, _ := json.Marshal(map[string]any{
		"name": cluster.Name, "server": cluster.Server, "project": cluster.Project,
		"namespaces": cluster.Namespaces, "clusterResources": cluster.ClusterResources, "newClient": rebuild,
	})
	if rebuild || string(shown) != c.shown {
		c.shown = string(shown)
		fmt.Printf("%d cluster %s\n", time.Now().Unix(), shown)
	}
}

func (c *clusterClient) get() kubernetes.Interface {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.clientset
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the cluster where Argo CD runs")
	argoNamespace := flag.String("argocd-namespace", "argocd", "Argo CD's namespace (its cluster Secrets')")
	name := flag.String("cluster", "", "the name of the cluster to call, as its cluster Secret names it")
	namespace := flag.String("namespace", "default", "namespace to list pods in")
	label := flag.String("label", "", "value of the mcsa-client label selector")
	interval := flag.Float64("interval", 2, "seconds between calls")
	flag.Parse()
	log.SetOutput(os.Stdout)
	log.SetFormatter(lineFormatter{})

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail("loading %s: %v", *kubeconfig, err)
	}
	kubeClient, err := kubernetes.NewForConfig(config)
	if err != nil {
		fail("%v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	argoDB := db.NewDB(*argoNamespace, settings.NewSettingsManager(ctx, kubeClient, *argoNamespace), kubeClient)
	client := &clusterClient{name: *name}
	go func() {
		err := argoDB.WatchClusters(ctx, client.set,
			func(_, cluster *appv1.Cluster) { client.set(cluster) },
			func(string) {})
		if err != nil {
			fail("watching the cluster Secrets: %v", err)
		}
	}()

	// As Argo CD calls a cluster only once its informer knows it: the first calls wait for it (a minute at most).
	for deadline := time.Now().Add(time.Minute); client.get() == nil && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	selector := metav1.ListOptions{LabelSelector: "mcsa-client=" + *label}
	for {
		if clientset := client.get(); clientset == nil {
			fmt.Printf("%d fail no cluster named %s yet\n", time.Now().Unix(), *name)
		} else {
			pods, err := clientset.CoreV1().Pods(*namespace).List(ctx, selector)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				fmt.Printf("%d fail %s\n", time.Now().Unix(), reason(err))
			} else {
				fmt.Printf("%d ok %d\n", time.Now().Unix(), len(pods.Items))
			}
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
