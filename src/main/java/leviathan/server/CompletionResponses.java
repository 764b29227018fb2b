package leviathan.server;

import static leviathan.server.CompletionServer.COMPLETIONS;
import static leviathan.server.Exchanges.event;
import static leviathan.server.Exchanges.message;
import static leviathan.server.Exchanges.sendJson;
import static leviathan.server.Exchanges.sendStreamHeaders;

import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.HexFormat;
import java.util.function.Consumer;
import leviathan.api.LanguageModel;
import leviathan.server.CompletionServer.Active;
import leviathan.server.Exchanges.ClientGone;

/**
 * The answer to one admitted completion request of {@link CompletionServer}, once it holds a slot:
 * the choices generated in order (choice {@code i} with seed {@code seed + i}), sent as one JSON
 * body or streamed as Server-Sent Events, with the time-to-first-token and character metrics.
 */
final class CompletionResponses {
    private final LanguageModel lm;
    private final String modelName;
    private final Metrics metrics;
    private final Consumer<String> log;
    private final LanguageModel.Turns turns;

    private final WriteDeadline wd;

    CompletionResponses(LanguageModel lm, String modelName, Metrics metrics, Consumer<String> log, LanguageModel.Turns turns,
                        WriteDeadline wd) {
        this.wd = wd;
        this.turns = turns;
        this.lm = lm;
        this.modelName = modelName;
        this.metrics = metrics;
        this.log = log;
    }

    /** One choice's generation settings: choice {@code i} uses seed {@code seed + i}. */
    private LanguageModel.Generation generation(CompletionRequest r, int i, long deadline) {
        long left = deadline - System.nanoTime();
        return new LanguageModel.Generation(r.maxTokens(), r.temperature(), r.topK(), r.topP(), r.seed() + i, r.dropUnknown(), r.stop(),
                Duration.ofNanos(Math.max(1, left)));
    }

    private static String finishReason(LanguageModel.Finish f) {
        return f == LanguageModel.Finish.STOP ? "stop" : "length";    // the time bound ends a choice like a length limit
    }

    private String head(String id) {
        StringBuilder sb = new StringBuilder("{\"id\":\"").append(id).append("\",\"object\":\"text_completion\",\"created\":")
                .append(System.currentTimeMillis() / 1000).append(",\"model\":");
        Jsons.quote(sb, modelName);
        return sb.toString();
    }

    private static String newId() {
        byte[] b = new byte[12];
        new java.security.SecureRandom().nextBytes(b);
        return "cmpl-" + HexFormat.of().formatHex(b);
    }

    /** Generates every choice, then answers with one JSON body; returns the HTTP status sent. */
    int plainCompletion(HttpExchange ex, CompletionRequest r, Active a, long t0, long deadline) throws IOException, ApiError {
        StringBuilder choices = new StringBuilder();
        long promptTokens = 0, completionTokens = 0;
        boolean[] first = {true};
        for (int p = 0; p < r.prompts().size(); p++) {
            for (int j = 0; j < r.n(); j++) {
                int i = p * r.n() + j;
                StringBuilder text = new StringBuilder();
                LanguageModel.Outcome o = lm.stream(r.prompts().get(p), generation(r, i, deadline), t -> {
                    if (first[0]) {
                        first[0] = false;
                        metrics.timeToFirstToken((System.nanoTime() - t0) / 1e9);
                    }
                    metrics.characters(t.length());
                    text.append(t);
                    return !a.cancelled;
                }, turns);
                LanguageModel.Completion c = new LanguageModel.Completion(text.toString(), o);
                if (c.outcome().finish() == LanguageModel.Finish.CANCELLED) {
                    throw new ApiError(503, "service_unavailable", null, "shutting_down", "the server is shutting down; the generation was cancelled");
                }
                if (j == 0) promptTokens += c.outcome().promptTokens();
                completionTokens += c.outcome().completionTokens();
                if (i > 0) choices.append(',');
                choices.append("{\"text\":");
                Jsons.quote(choices, c.text());
                choices.append(",\"index\":").append(i).append(",\"logprobs\":null,\"finish_reason\":\"")
                        .append(finishReason(c.outcome().finish())).append("\"}");
            }
        }
        String body = head(newId()) + ",\"choices\":[" + choices + "],\"usage\":" + usage(promptTokens, completionTokens) + "}";
        return sendJson(wd, ex, 200, body);
    }

    private static String usage(long prompt, long completion) {
        return "{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion + ",\"total_tokens\":" + (prompt + completion) + "}";
    }

    /**
     * Streams every choice as Server-Sent Events, one per character, then the finish events, the
     * usage (when asked) and {@code [DONE]}; returns the status to record (200, or 500 / 503 when
     * the stream ended in an error event).
     */
    int streamCompletion(HttpExchange ex, CompletionRequest r, Active a, long t0, long deadline) throws IOException, ClientGone {
        ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-cache");
        sendStreamHeaders(wd, ex, 200);
        OutputStream out = ex.getResponseBody();
        String head = head(newId());
        // with include_usage, OpenAI's chunks before the last carry "usage": null; the last carries the counts
        String usageNull = r.includeUsage() ? ",\"usage\":null" : "";
        boolean[] first = {true}, gone = {false};
        long promptTokens = 0, completionTokens = 0;
        for (int p = 0; p < r.prompts().size(); p++) {
            for (int j = 0; j < r.n(); j++) {
                int i = p * r.n() + j;
                LanguageModel.Outcome o;
                try {
                    o = lm.stream(r.prompts().get(p), generation(r, i, deadline), t -> {
                        if (a.cancelled) return false;
                        if (first[0]) {
                            first[0] = false;
                            metrics.timeToFirstToken((System.nanoTime() - t0) / 1e9);
                        }
                        metrics.characters(t.length());
                        StringBuilder sb = new StringBuilder(head).append(",\"choices\":[{\"text\":");
                        Jsons.quote(sb, t);
                        sb.append(",\"index\":").append(i).append(",\"logprobs\":null,\"finish_reason\":null}]").append(usageNull).append('}');
                        if (!event(wd, ex, out, sb.toString())) {
                            gone[0] = true;
                            return false;
                        }
                        return true;
                    }, turns);
                } catch (RuntimeException e) {
                    // the status line is out: report the failure in the stream, then end it
                    log.accept("serve: 500 POST " + COMPLETIONS + " (streaming): " + e);
                    event(wd, ex, out, new ApiError(500, "server_error", null, null, "internal error: " + message(e)).json());
                    event(wd, ex, out, "[DONE]");
                    out.close();
                    return 500;
                }
                if (gone[0]) throw new ClientGone();
                if (o.finish() == LanguageModel.Finish.CANCELLED) {
                    log.accept("serve: 503 POST " + COMPLETIONS + " (streaming): cancelled by the shutdown");
                    event(wd, ex, out, new ApiError(503, "service_unavailable", null, "shutting_down", "the server is shutting down; the generation was cancelled").json());
                    event(wd, ex, out, "[DONE]");
                    out.close();
                    return 503;
                }
                if (j == 0) promptTokens += o.promptTokens();
                completionTokens += o.completionTokens();
                String end = head + ",\"choices\":[{\"text\":\"\",\"index\":" + i + ",\"logprobs\":null,\"finish_reason\":\""
                        + finishReason(o.finish()) + "\"}]" + usageNull + "}";
                if (!event(wd, ex, out, end)) throw new ClientGone();
            }
        }
        if (r.includeUsage() && !event(wd, ex, out, head + ",\"choices\":[],\"usage\":" + usage(promptTokens, completionTokens) + "}")) throw new ClientGone();
        if (!event(wd, ex, out, "[DONE]")) throw new ClientGone();
        out.close();
        return 200;
    }
}
