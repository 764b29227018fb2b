package leviathan.server;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;

/** The server's counters, gauges and histograms, written in the Prometheus text format (version 0.0.4). */
final class Metrics {
    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();   // "endpoint\0status"
    private final LongAdder characters = new LongAdder();
    private final Histogram ttft = new Histogram();
    private final Histogram latency = new Histogram();
    private final RecentRate rate = new RecentRate(10);
    private final IntSupplier queueDepth, busySlots;
    private final LongSupplier writeTimeouts;
    private final int slots;

    Metrics(int slots, IntSupplier queueDepth, IntSupplier busySlots, LongSupplier writeTimeouts) {
        this.slots = slots;
        this.writeTimeouts = writeTimeouts;
        this.queueDepth = queueDepth;
        this.busySlots = busySlots;
    }

    void request(String endpoint, int status) {
        requests.computeIfAbsent(endpoint + '\0' + status, k -> new LongAdder()).increment();
    }

    void characters(int n) {
        characters.add(n);
        rate.add(n);
    }

    void timeToFirstToken(double seconds) { ttft.observe(seconds); }

    void completionLatency(double seconds) { latency.observe(seconds); }

    String text() {
        StringBuilder sb = new StringBuilder();
        sb.append("# HELP leviathan_requests_total HTTP requests answered, by endpoint and status (499: the client went away).\n");
        sb.append("# TYPE leviathan_requests_total counter\n");
        requests.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
            String[] k = e.getKey().split("\0");
            sb.append("leviathan_requests_total{endpoint=\"").append(k[0]).append("\",status=\"").append(k[1]).append("\"} ")
                    .append(e.getValue().sum()).append('\n');
        });
        single(sb, "leviathan_generated_characters_total", "counter", "Characters generated (tokens are characters).", characters.sum());
        single(sb, "leviathan_generation_rate_characters_per_second", "gauge", "Characters generated per second over the last 10 s.",
                rate.perSecond());
        single(sb, "leviathan_queue_depth", "gauge", "Completion requests waiting for a slot.", queueDepth.getAsInt());
        single(sb, "leviathan_slots_busy", "gauge", "Slots generating now.", busySlots.getAsInt());
        single(sb, "leviathan_slots", "gauge", "Generation slots.", slots);
        single(sb, "leviathan_write_timeouts_total", "counter", "Connections closed because the client read nothing within the write deadline.",
                writeTimeouts.getAsLong());
        ttft.write(sb, "leviathan_time_to_first_token_seconds", "Seconds from a completion request's arrival to its first generated character.");
        latency.write(sb, "leviathan_request_duration_seconds", "Seconds from a completion request's arrival to its last byte.");
        return sb.toString();
    }

    /** One metric without labels: its HELP and TYPE lines and its value. */
    private static void single(StringBuilder sb, String name, String type, String help, Object value) {
        sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
        sb.append("# TYPE ").append(name).append(' ').append(type).append('\n');
        sb.append(name).append(' ').append(value).append('\n');
    }

    /** A cumulative histogram over fixed buckets, in seconds. */
    private static final class Histogram {
        static final double[] BOUNDS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
        final LongAdder[] counts = new LongAdder[BOUNDS.length + 1];
        final DoubleAdder sum = new DoubleAdder();

        Histogram() { for (int i = 0; i < counts.length; i++) counts[i] = new LongAdder(); }

        void observe(double v) {
            int i = 0;
            while (i < BOUNDS.length && v > BOUNDS[i]) i++;
            counts[i].increment();
            sum.add(v);
        }

        void write(StringBuilder sb, String name, String help) {
            sb.append("# HELP ").append(name).append(' ').append(help).append('\n');
            sb.append("# TYPE ").append(name).append(" histogram\n");
            long acc = 0;
            for (int i = 0; i < counts.length; i++) {
                acc += counts[i].sum();
                sb.append(name).append("_bucket{le=\"").append(i < BOUNDS.length ? Double.toString(BOUNDS[i]) : "+Inf").append("\"} ").append(acc).append('\n');
            }
            sb.append(name).append("_sum ").append(sum.sum()).append('\n');
            sb.append(name).append("_count ").append(acc).append('\n');
        }
    }

    /** Events per second over a sliding window of whole seconds. */
    private static final class RecentRate {
        final long[] second, count;

        RecentRate(int seconds) {
            second = new long[seconds];
            count = new long[seconds];
        }

        synchronized void add(int n) {
            long now = System.nanoTime() / 1_000_000_000L;
            int i = (int) Math.floorMod(now, (long) second.length);
            if (second[i] != now) {
                second[i] = now;
                count[i] = 0;
            }
            count[i] += n;
        }

        synchronized double perSecond() {
            long now = System.nanoTime() / 1_000_000_000L, total = 0;
            for (int i = 0; i < second.length; i++) if (now - second[i] < second.length) total += count[i];
            return total / (double) second.length;
        }
    }
}
