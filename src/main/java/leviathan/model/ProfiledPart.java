package leviathan.model;

import java.lang.foreign.MemorySegment;
import java.util.function.ObjDoubleConsumer;
import leviathan.nn.BlockPart;
import leviathan.profile.Profiler;

/**
 * A bound part whose forward and backward are {@link Profiler} sections ({@code mixer forward
 * (CorrelationMixer)}, ...), summed over the layers. {@link Workspace} binds parts through it only
 * when {@code -Dleviathan.profile=true}.
 */
final class ProfiledPart implements BlockPart.Bound {
    private final BlockPart.Bound part;
    private final Profiler.Section forward, backward;

    ProfiledPart(BlockPart.Bound part, String role, BlockPart declared) {
        this.part = part;
        String name = declared.getClass().getSimpleName();
        this.forward = Profiler.section(role + " forward (" + name + ")");
        this.backward = Profiler.section(role + " backward (" + name + ")");
    }

    @Override
    public void forward(MemorySegment out, MemorySegment in, int B, int T, int t0) {
        Profiler.begin(forward);
        part.forward(out, in, B, T, t0);
        Profiler.end(forward);
    }

    @Override
    public void backward(MemorySegment din, MemorySegment dout, MemorySegment in, int B, int T, float lossScale) {
        Profiler.begin(backward);
        part.backward(din, dout, in, B, T, lossScale);
        Profiler.end(backward);
    }

    @Override public double auxLoss() { return part.auxLoss(); }

    @Override public void stats(ObjDoubleConsumer<String> sink) { part.stats(sink); }

    @Override public void close() { part.close(); }
}
