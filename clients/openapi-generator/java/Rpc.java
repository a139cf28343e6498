// The JSON-RPC part of E2e (one call and one batch on POST /annotations/_rpc), kept apart: it
// follows the spec's reshaped JSON-RPC (issue #21, point 5).
import java.util.UUID;
import org.openapitools.client.ApiClient;

final class Rpc {
  private Rpc() {}

  static void session(ApiClient client, UUID entryId) {
    E2e.step("JSON-RPC: pending the spec's reshaping (point 5)");
    throw new E2e.Failure("the JSON-RPC part is written against main's reshaped RPC (not merged yet)");
  }
}
