module multicluster-service-account/credential-plugin

go 1.26
