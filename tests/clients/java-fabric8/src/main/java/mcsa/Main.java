// A long-running client of the fabric8 Kubernetes client (io.fabric8:kubernetes-client) for the client test:
// loads the kubeconfig once, then lists pods with the label selector mcsa-client=<label> every interval,
// printing `<unix time> ok <pods>` or `<unix time> fail <reason>` for each call. Exits 0 on SIGTERM/SIGINT.
package mcsa;

import io.fabric8.kubernetes.api.model.PodList;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.File;
import java.util.HashMap;
import java.util.Map;
import sun.misc.Signal;

public class Main {
  public static void main(String[] argv) throws Exception {
    // Only warnings and errors from the library, to stderr: every other output line is a call's.
    System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    Map<String, String> args = flags(argv);
    // The JVM exits 143 on SIGTERM by default.
    Signal.handle(new Signal("TERM"), s -> System.exit(0));
    Signal.handle(new Signal("INT"), s -> System.exit(0));

    // A Config made from a kubeconfig FILE remembers the file: the client's token interceptor reads the
    // file again (Config.refresh) every minute and after a 401, so a token renewed in it is picked up.
    Config config = Config.fromKubeconfig(new File(args.get("--kubeconfig")).getAbsoluteFile());
    KubernetesClient client = new KubernetesClientBuilder().withConfig(config).build();
    String namespace = args.getOrDefault("--namespace", "default");
    String label = args.get("--label");
    long interval = (long) (Double.parseDouble(args.getOrDefault("--interval", "2")) * 1000);
    while (true) {
      try {
        PodList pods = client.pods().inNamespace(namespace).withLabel("mcsa-client", label).list();
        System.out.println(now() + " ok " + pods.getItems().size());
      } catch (Exception e) { // any failure is reported, never the end of the program
        System.out.println(now() + " fail " + reason(e));
      }
      System.out.flush();
      Thread.sleep(interval);
    }
  }

  static Map<String, String> flags(String[] argv) {
    Map<String, String> args = new HashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) {
      args.put(argv[i], argv[i + 1]);
    }
    if (!args.containsKey("--kubeconfig") || !args.containsKey("--label")) {
      System.err.println("usage: --kubeconfig PATH --namespace NS --label VALUE --interval SECONDS");
      System.exit(2);
    }
    return args;
  }

  static long now() {
    return System.currentTimeMillis() / 1000;
  }

  // One line of at most 200 characters: the HTTP status where the server answered, then the error.
  static String reason(Exception e) {
    Throwable root = e;
    while (root.getCause() != null) {
      root = root.getCause();
    }
    String text = e.getClass().getSimpleName()
        + (root == e ? "" : " caused by " + root.getClass().getSimpleName() + ": " + root.getMessage())
        + ": " + e.getMessage();
    if (e instanceof KubernetesClientException k && k.getCode() > 0) { // -1: no response
      var status = k.getStatus();
      text = "HTTP " + k.getCode() + " " + (status == null ? "" : status.getReason() + ": " + status.getMessage());
    }
    text = String.join(" ", text.trim().split("\\s+"));
    return text.length() > 200 ? text.substring(0, 200) : text;
  }
}
