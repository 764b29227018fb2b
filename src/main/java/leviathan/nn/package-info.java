/**
 * Layers over the kernels, and the block's pluggable parts.
 *
 * <p>The block is {@code x + mixer(ln_1(x))}, then {@code x + mlp(ln_2(x))}. A token mixer
 * ({@link leviathan.nn.TokenMixer}) or an MLP ({@link leviathan.nn.Mlp}) is one class that declares
 * everything about itself ({@link leviathan.nn.BlockPart}): its parameters (checkpoint name suffix,
 * shape, initialisation, weight decay), its saved activations per row, its checkpoint metadata
 * (model options) and, once bound to a layer's memory, its forward, backward and incremental
 * forward. The parameter layout, initialisation, optimizer decay groups, checkpoint metadata and
 * checks, and the workspace are derived from those declarations; the model ({@code model.Gpt})
 * only knows the block around the parts.
 *
 * <h2>Adding a part</h2>
 * <ol>
 *   <li>Write the class: implement {@code TokenMixer} (names start with {@code attn.}) or
 *       {@code Mlp} (names start with {@code mlp.}); a constructor {@code (BlockPart.Dims, PartSpec)}
 *       that reads and validates its model options from the spec (a bad value is an
 *       {@link java.lang.IllegalArgumentException} with a message naming the option); declare
 *       {@code params()}, {@code activations()}, {@code metadata()}; in {@code bind()} resolve
 *       the segments once and return a {@code Bound} whose {@code forward} computes rows
 *       {@code [t0, T)} and whose {@code backward} adds into its gradients. A part with an
 *       auxiliary training loss reports it in {@code auxLoss()} and adds its gradient in
 *       {@code backward} scaled by {@code lossScale}; figures for the metrics go to
 *       {@code stats()}. Knobs that do not change the stored model (kernel choice, loss
 *       weights, initialisation) come from {@link leviathan.nn.RunOptions}.</li>
 *   <li>Register it: one line in {@link leviathan.nn.Parts} naming it and its metadata keys.</li>
 *   <li>Give it command-line flags (cli) if it has options, and tests: its kernels against
 *       scalar references, finite differences of every gradient, and the model-level checks.</li>
 * </ol>
 * Nothing in {@code model} or {@code train} changes for a new part.
 */
package leviathan.nn;
