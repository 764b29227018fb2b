import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.OpenAIServiceException;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.langchain4j.model.StreamingResponseHandler;
import dev.langchain4j.model.openai.OpenAiLanguageModel;
import dev.langchain4j.model.openai.OpenAiStreamingLanguageModel;
import dev.langchain4j.model.output.Response;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The official OpenAI Java SDK and LangChain4j against a running {@code leviathan serve} started with
 * an API key: list the model, complete, stream the same completion, and get the server's 400 and 401
 * as each library's own exceptions. Prints one Markdown table row per check; exits 1 if any failed.
 *   Usage: java -cp CLASSPATH OpenAiClients.java BASE_URL API_KEY MODEL_ID PROMPT
 */
public class OpenAiClients {

    static final List<String> failures = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        String base = args[0], key = args[1], model = args[2], prompt = args[3];
        openAiJava(base, key, model, prompt);
        langChain4j(base, key, model, prompt);
        if (!failures.isEmpty()) {
            System.err.println("OpenAiClients: failed: " + failures);
            System.exit(1);
        }
    }

    static void openAiJava(String base, String key, String model, String prompt) {
        String who = "OpenAI Java SDK 4.105.0";
        OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl(base).apiKey(key).maxRetries(0).build();
        check(who, "models().list() names the model", () -> {
            List<String> ids = client.models().list().data().stream().map(m -> m.id()).toList();
            return result(ids.contains(model), "ids " + ids);
        });
        CompletionCreateParams params = CompletionCreateParams.builder().model(model).prompt(prompt)
                .maxTokens(24L).temperature(0.8).seed(7L).build();
        String[] text = new String[1];
        check(who, "completions().create(), 24 tokens, seed 7", () -> {
            Completion c = client.completions().create(params);
            text[0] = c.choices().get(0).text();
            long used = c.usage().orElseThrow().completionTokens();
            return result(text[0].length() == 24 && used == 24 && c.choices().get(0).finishReason().toString().equals("length"),
                    "text " + quote(text[0]) + ", completion_tokens " + used + ", finish_reason " + c.choices().get(0).finishReason());
        });
        check(who, "completions().createStreaming(), same seed", () -> {
            StringBuilder sb = new StringBuilder();
            int chunks = 0;
            try (StreamResponse<Completion> s = client.completions().createStreaming(params)) {
                for (Completion chunk : (Iterable<Completion>) s.stream()::iterator) {
                    chunks++;
                    if (!chunk.choices().isEmpty()) sb.append(chunk.choices().get(0).text());
                }
            }
            return result(sb.toString().equals(text[0]), chunks + " chunks, text " + quote(sb.toString()) + (sb.toString().equals(text[0]) ? " (the same)" : " (differs)"));
        });
        check(who, "temperature 3 -> the server's 400", () -> {
            try {
                client.completions().create(params.toBuilder().temperature(3.0).build());
                return result(false, "no exception");
            } catch (OpenAIServiceException e) {
                return result(e.statusCode() == 400, e.getClass().getSimpleName() + " " + e.statusCode() + ": " + e.getMessage());
            }
        });
        check(who, "a wrong API key -> the server's 401", () -> {
            OpenAIClient wrong = OpenAIOkHttpClient.builder().baseUrl(base).apiKey("not-" + key).maxRetries(0).build();
            try {
                wrong.completions().create(params);
                return result(false, "no exception");
            } catch (OpenAIServiceException e) {
                return result(e.statusCode() == 401, e.getClass().getSimpleName() + " " + e.statusCode() + ": " + e.getMessage());
            } finally {
                wrong.close();
            }
        });
        client.close();
    }

    static void langChain4j(String base, String key, String model, String prompt) {
        String who = "LangChain4j 1.19.0";
        var lm = OpenAiLanguageModel.builder().baseUrl(base).apiKey(key).modelName(model).temperature(0.0).maxRetries(0).build();
        String[] text = new String[1];
        check(who, "OpenAiLanguageModel.generate(), greedy", () -> {
            Response<String> r = lm.generate(prompt);
            text[0] = r.content();
            return result(!text[0].isEmpty(), "text " + quote(text[0]) + ", finish " + r.finishReason() + ", usage " + r.tokenUsage());
        });
        check(who, "OpenAiStreamingLanguageModel.generate(), greedy", () -> {
            var slm = OpenAiStreamingLanguageModel.builder().baseUrl(base).apiKey(key).modelName(model).temperature(0.0).build();
            StringBuilder sb = new StringBuilder();
            CompletableFuture<Response<String>> done = new CompletableFuture<>();
            slm.generate(prompt, new StreamingResponseHandler<String>() {
                @Override public void onNext(String token) { sb.append(token); }
                @Override public void onComplete(Response<String> response) { done.complete(response); }
                @Override public void onError(Throwable error) { done.completeExceptionally(error); }
            });
            Response<String> r = done.get(60, TimeUnit.SECONDS);
            return result(sb.toString().equals(text[0]), "text " + quote(sb.toString()) + (sb.toString().equals(text[0]) ? " (the same)" : " (differs)")
                    + ", finish " + r.finishReason());
        });
        check(who, "temperature 3 -> the server's 400", () -> {
            var bad = OpenAiLanguageModel.builder().baseUrl(base).apiKey(key).modelName(model).temperature(3.0).maxRetries(0).build();
            try {
                bad.generate(prompt);
                return result(false, "no exception");
            } catch (RuntimeException e) {
                return result(e.getMessage() != null && e.getMessage().contains("temperature"), e.getClass().getSimpleName() + ": " + e.getMessage());
            }
        });
        check(who, "a wrong API key -> the server's 401", () -> {
            var wrong = OpenAiLanguageModel.builder().baseUrl(base).apiKey("not-" + key).modelName(model).maxRetries(0).build();
            try {
                wrong.generate(prompt);
                return result(false, "no exception");
            } catch (RuntimeException e) {
                return result(e.getClass().getSimpleName().startsWith("Authentication") || String.valueOf(e.getMessage()).contains("invalid_api_key"),
                        e.getClass().getSimpleName() + ": " + e.getMessage());
            }
        });
    }

    record Result(boolean ok, String detail) {}

    static Result result(boolean ok, String detail) { return new Result(ok, detail); }

    interface Check { Result run() throws Exception; }

    static void check(String who, String what, Check body) {
        Result r;
        try {
            r = body.run();
        } catch (Exception e) {
            r = result(false, "threw " + e);
        }
        if (!r.ok()) failures.add(who + ": " + what);
        System.out.println("| " + who + " | " + what + " | " + (r.ok() ? "ok" : "**FAILED**") + " | "
                + r.detail().replace("|", "\\|").replace("\n", " ") + " |");
    }

    static String quote(String s) { return "`" + s.replace("\n", "\\n").replace("`", "'") + "`"; }
}
