/**
 * Leviathan's engine as a library: load a checkpoint with {@link leviathan.api.LanguageModel}, generate
 * text and score it. Needs only the JDK; oneDNN's GEMM is used when the {@code org.bytedeco:dnnl}
 * {@code linux-x86_64} jar is on the class path, the Java GEMM otherwise.
 *
 * <p>Run with {@code --enable-native-access=leviathan.core} (the engine allocates and calls native
 * code through FFM). {@code jdk.incubator.vector} is required here, so it is resolved with this module.
 *
 * <p>Exported: {@code leviathan.api}, and the packages whose types appear in its public signatures:
 * {@code leviathan.model} ({@code GptConfig}, {@code CheckpointException}), {@code leviathan.data}
 * ({@code CharTokenizer}, {@code TextDataset.Split}) and {@code leviathan.train} ({@code Evaluator.Result}).
 * Only those types are the supported API; the other public classes in those three packages are the
 * engine's own and may change. Everything else (tensors, kernels, backends, layers, native bindings,
 * distributed training) is not exported.
 */
module leviathan.core {
    requires jdk.incubator.vector;
    requires jdk.management;     // the memory estimate reads physical memory (com.sun.management)
    requires java.net.http;      // dataset download

    exports leviathan.api;
    exports leviathan.data;
    exports leviathan.model;
    exports leviathan.train;
}
