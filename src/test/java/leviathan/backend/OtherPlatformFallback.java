package leviathan.backend;

/**
 * Run in a child JVM whose {@code os.name} / {@code os.arch} name another platform: selects the
 * automatic backend and prints every log line, then the backend's name and a product's value.
 */
public final class OtherPlatformFallback {
    private OtherPlatformFallback() {}

    public static void main(String[] args) {
        try (Backend b = Backends.select("auto", line -> System.out.println("log: " + line));
             var arena = java.lang.foreign.Arena.ofConfined()) {
            var a = arena.allocateFrom(java.lang.foreign.ValueLayout.JAVA_FLOAT, 1f, 2f, 3f, 4f);
            var c = arena.allocate(4 * Float.BYTES);
            b.sgemm(false, false, 2, 2, 2, 1f, a, 2, a, 2, 0f, c, 2);        // [[1,2],[3,4]]² = [[7,10],[15,22]]
            System.out.println("backend " + b.name() + " c00 " + c.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, 0));
        }
    }
}
