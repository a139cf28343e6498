# OpenAPI Generator `-g java --library native`, compiled with javac and run on the JVM
# (clients/openapi-generator/java/run.sh; docs/clients-openapi-generator.md).
exec bash clients/openapi-generator/java/run.sh "$CLIENTS_OUT"
