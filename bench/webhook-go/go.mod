module multicluster-service-account/bench/webhook-go

go 1.26
