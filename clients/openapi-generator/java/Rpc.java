// The JSON-RPC part of E2e: one call (create) on POST /annotations/_rpc, typed by the generated
// RpcRequest / RpcAnswer, then one batch (update + index) on POST /annotations/_rpc/batch, typed by
// RpcCall / RpcReply. Ids and params are untyped in the document (the protocol reports bad ones
// in-band), so the generated setters take plain values.
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.openapitools.client.ApiClient;
import org.openapitools.client.api.AnnotationsApi;
import org.openapitools.client.model.RpcAnswer;
import org.openapitools.client.model.RpcCall;
import org.openapitools.client.model.RpcParams;
import org.openapitools.client.model.RpcReply;
import org.openapitools.client.model.RpcRequest;
import org.openapitools.client.model.RpcResult;

final class Rpc {
  private Rpc() {}

  static void session(ApiClient client, UUID entryId) {
    AnnotationsApi annotations = new AnnotationsApi(client);

    E2e.step("JSON-RPC call on POST /annotations/_rpc: create a box on the claimed entry");
    Map<String, Object> box = Map.of("x", 10, "y", 20, "w", 50, "h", 40);
    RpcAnswer answer = E2e.call("callAnnotationsRpc create", 200, () -> annotations.callAnnotationsRpcWithHttpInfo(
        AnnotationsApi.APICallAnnotationsRpcRequest.newBuilder().rpcRequest(new RpcRequest()
            .jsonrpc(RpcRequest.JsonrpcEnum._2_0).method("create").id(1)
            .params(new RpcParams().entryId(entryId.toString()).dimensions(box).annotation(Map.of("label", "bird"))))
            .build()));
    E2e.check(answer.getError() == null && Integer.valueOf(1).equals(answer.getId()), "callAnnotationsRpc create: " + answer);
    RpcResult created = answer.getResult();
    E2e.check(created != null && entryId.equals(created.getEntryId()) && box.equals(created.getDimensions())
        && Map.of("label", "bird").equals(created.getAnnotation()), "callAnnotationsRpc create: result " + created);

    E2e.step("JSON-RPC batch on POST /annotations/_rpc/batch: update the box, then index the entry's");
    Map<String, Object> moved = Map.of("x", 12, "y", 20, "w", 48, "h", 40);
    List<RpcReply> replies = E2e.call("callAnnotationsRpcBatch", 200, () -> annotations.callAnnotationsRpcBatchWithHttpInfo(
        AnnotationsApi.APICallAnnotationsRpcBatchRequest.newBuilder().rpcCall(List.of(
            new RpcCall().jsonrpc("2.0").method("update").id(1)
                .params(new RpcParams().id(created.getId().toString()).dimensions(moved)),
            new RpcCall().jsonrpc("2.0").method("index").id("two")
                .params(new RpcParams().filter(Map.of("entry_id", entryId.toString()))))).build()));
    E2e.check(replies.size() == 2 && Integer.valueOf(1).equals(replies.get(0).getId()) && "two".equals(replies.get(1).getId()),
        "callAnnotationsRpcBatch: " + replies);
    for (RpcReply reply : replies) E2e.check(reply.getError() == null, "callAnnotationsRpcBatch: a call failed: " + reply);
    RpcResult updated = replies.get(0).getResult();
    RpcResult listed = replies.get(1).getResult();
    E2e.check(created.getId().equals(updated.getId()) && moved.equals(updated.getDimensions()), "update: result " + updated);
    E2e.check(listed.getData().size() == 1 && created.getId().equals(listed.getData().get(0).getId())
        && moved.equals(listed.getData().get(0).getDimensions()), "index: result " + listed);
  }
}
