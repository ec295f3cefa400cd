//! A long-running kube-rs client for the client test: loads the kubeconfig once, then lists pods with the
//! label selector mcsa-client=<label> every interval, printing `<unix time> ok <pods>` or
//! `<unix time> fail <reason>` for each call. Exits 0 on SIGTERM or SIGINT.
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use tokio::signal::unix::{SignalKind, signal};

struct Args {
    kubeconfig: String,
    namespace: String,
    label: String,
    interval: f64,
}

fn parse_args() -> Args {
    let mut args = Args {
        kubeconfig: String::new(),
        namespace: "default".into(),
        label: String::new(),
        interval: 2.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--kubeconfig" => args.kubeconfig = value,
            "--namespace" => args.namespace = value,
            "--label" => args.label = value,
            "--interval" => {
                args.interval = value
                    .parse()
                    .unwrap_or_else(|_| usage("--interval: not a number"))
            }
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    args
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "error: {problem}\nusage: client --kubeconfig PATH --namespace NS --label VALUE --interval SECONDS"
    );
    std::process::exit(2)
}

/// One line of at most 200 characters: the HTTP status where the server answered, else the error's chain.
fn reason(err: &kube::Error) -> String {
    let text = match err {
        kube::Error::Api(status) => {
            format!("HTTP {} {}: {}", status.code, status.reason, status.message)
        }
        _ => {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(err);
            while let Some(cause) = source {
                text = format!("{text}: {cause}");
                source = cause.source();
            }
            text
        }
    };
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    // As kube-rs documents loading a given kubeconfig file (its current context).
    let kubeconfig = Kubeconfig::read_from(&args.kubeconfig)?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    let client = Client::try_from(config)?;
    let pods: Api<Pod> = Api::namespaced(client, &args.namespace);
    let params = ListParams::default().labels(&format!("mcsa-client={}", args.label));
    loop {
        let line = match pods.list(&params).await {
            Ok(list) => format!("{} ok {}", now(), list.items.len()),
            Err(err) => format!("{} fail {}", now(), reason(&err)),
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()?;
        drop(out);
        tokio::time::sleep(Duration::from_secs_f64(args.interval)).await;
    }
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        result = run(args) => if let Err(err) = result {
            eprintln!("error: {err}");
            std::process::exit(1);
        },
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
