// A long-running client of the official Kubernetes Java client (io.kubernetes:client-java) for the client
// test: loads the kubeconfig once, then lists pods with the label selector mcsa-client=<label> every interval,
// printing `<unix time> ok <pods>` or `<unix time> fail <reason>` for each call. Exits 0 on SIGTERM/SIGINT.
package mcsa;

import com.google.gson.JsonParser;
import io.kubernetes.client.openapi.ApiClient;
import io.kubernetes.client.openapi.ApiException;
import io.kubernetes.client.openapi.apis.CoreV1Api;
import io.kubernetes.client.openapi.models.V1PodList;
import io.kubernetes.client.util.ClientBuilder;
import io.kubernetes.client.util.KubeConfig;
import java.io.File;
import java.io.FileReader;
import java.io.Reader;
import java.time.Duration;
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

    File file = new File(args.get("--kubeconfig")).getAbsoluteFile();
    KubeConfig kc;
    try (Reader reader = new FileReader(file)) {
      kc = KubeConfig.loadKubeConfig(reader);
    }
    // Paths in the kubeconfig are relative to it (an exec command's too: the file must be absolute, or a
    // plugin run fails with a NullPointerException).
    kc.setFile(file);
    // With a refresh period, the client asks the kubeconfig for credentials again (an exec plugin runs
    // again) once per period; without one it keeps the first token for good.
    ApiClient client = ClientBuilder.kubeconfig(kc, Duration.ofSeconds(60)).build();
    CoreV1Api api = new CoreV1Api(client);
    String selector = "mcsa-client=" + args.get("--label");
    long interval = (long) (Double.parseDouble(args.getOrDefault("--interval", "2")) * 1000);
    while (true) {
      try {
        V1PodList pods = api.listNamespacedPod(args.getOrDefault("--namespace", "default"))
            .labelSelector(selector).execute();
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
    if (e instanceof ApiException api && api.getCode() > 0) { // 0: no response
      String message = "";
      try {
        var status = JsonParser.parseString(api.getResponseBody()).getAsJsonObject();
        message = status.get("reason").getAsString() + ": " + status.get("message").getAsString();
      } catch (Exception notStatus) { // not a Status object: the code alone
      }
      text = "HTTP " + api.getCode() + " " + message;
    }
    text = String.join(" ", text.trim().split("\\s+"));
    return text.length() > 200 ? text.substring(0, 200) : text;
  }
}
