import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * Load client for {@code leviathan serve} (run as a single-file program: {@code java ServeLoad.java ...}).
 * Mode "steady": K clients each send streaming completions back to back for S seconds. Mode "burst":
 * K streaming requests at once, one each. Prints one line of key=value results: requests, errors,
 * time-to-first-token p50/p99 (ms) over all requests, and over the requests after each client's first
 * one ("warm": a cold JVM compiles the model's code during the first requests), the slowest first
 * request, characters/s in total.
 */
public class ServeLoad {
    public static void main(String[] args) throws Exception {
        String url = "http://127.0.0.1:8080", mode = "steady";
        int clients = 8, maxTokens = 200;
        double seconds = 60;
        for (int i = 0; i < args.length; i += 2) {
            switch (args[i]) {
                case "--url" -> url = args[i + 1];
                case "--mode" -> mode = args[i + 1];
                case "--clients" -> clients = Integer.parseInt(args[i + 1]);
                case "--seconds" -> seconds = Double.parseDouble(args[i + 1]);
                case "--max-tokens" -> maxTokens = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build();
        URI uri = URI.create(url + "/v1/completions");
        List<Long> ttft = Collections.synchronizedList(new ArrayList<>()), warm = Collections.synchronizedList(new ArrayList<>()),
                cold = Collections.synchronizedList(new ArrayList<>());
        AtomicLong chars = new AtomicLong(), requests = new AtomicLong(), errors = new AtomicLong();
        List<String> errorSamples = Collections.synchronizedList(new ArrayList<>());
        long t0 = System.nanoTime(), end = t0 + (long) (seconds * 1e9);
        boolean steady = mode.equals("steady");
        int mt = maxTokens;
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                int client = c;
                fs.add(pool.submit(() -> {
                    long k = 0;
                    do {
                        String body = "{\"prompt\":\"\\n\",\"max_tokens\":" + mt + ",\"temperature\":0.8,\"seed\":" + (client * 1_000_003L + k++) + ",\"stream\":true}";
                        long s = System.nanoTime();
                        requests.incrementAndGet();
                        try {
                            HttpResponse<Stream<String>> r = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(300))
                                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofLines());
                            if (r.statusCode() != 200) {
                                errors.incrementAndGet();
                                errorSamples.add("HTTP " + r.statusCode());
                                r.body().close();
                                continue;
                            }
                            boolean first = true, done = false;
                            Iterator<String> it = r.body().iterator();
                            while (it.hasNext()) {
                                String line = it.next();
                                if (!line.startsWith("data: ")) continue;
                                if (line.equals("data: [DONE]")) { done = true; break; }
                                if (line.contains("\"error\"")) { errors.incrementAndGet(); errorSamples.add(line); break; }
                                int at = line.indexOf("\"text\":\"");
                                if (at < 0) continue;
                                int n = textLength(line, at + 8);
                                if (n > 0 && first) {
                                    first = false;
                                    long t = System.nanoTime() - s;
                                    ttft.add(t);
                                    (k == 1 ? cold : warm).add(t);
                                }
                                chars.addAndGet(n);
                            }
                            if (!done) { errors.incrementAndGet(); errorSamples.add("stream ended without [DONE]"); }
                        } catch (Exception e) {
                            errors.incrementAndGet();
                            errorSamples.add(e.toString());
                        }
                    } while (steady && System.nanoTime() < end);
                    return null;
                }));
            }
            for (Future<?> f : fs) f.get();
        }
        double elapsed = (System.nanoTime() - t0) / 1e9;
        List<Long> sorted = new ArrayList<>(ttft), sortedWarm = new ArrayList<>(warm), sortedCold = new ArrayList<>(cold);
        Collections.sort(sorted);
        Collections.sort(sortedWarm);
        Collections.sort(sortedCold);
        System.out.printf("mode=%s clients=%d seconds=%.1f requests=%d errors=%d ttft_p50_ms=%.1f ttft_p99_ms=%.1f warm_requests=%d "
                        + "warm_ttft_p50_ms=%.1f warm_ttft_p99_ms=%.1f first_ttft_max_ms=%.1f chars=%d chars_per_s=%.0f%n",
                mode, clients, elapsed, requests.get(), errors.get(), pct(sorted, 0.50), pct(sorted, 0.99), sortedWarm.size(),
                pct(sortedWarm, 0.50), pct(sortedWarm, 0.99), pct(sortedCold, 1.0), chars.get(), chars.get() / elapsed);
        for (String e : errorSamples.subList(0, Math.min(5, errorSamples.size()))) System.err.println("error: " + e);
    }

    /** Characters in the JSON string starting at {@code from} (escapes count as one character). */
    static int textLength(String s, int from) {
        int n = 0;
        for (int i = from; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"') return n;
            if (c == '\\') i += s.charAt(i + 1) == 'u' ? 5 : 1;
            n++;
        }
        return n;
    }

    static double pct(List<Long> sorted, double p) {
        if (sorted.isEmpty()) return Double.NaN;
        return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p * sorted.size()) - 1)) / 1e6;
    }
}
