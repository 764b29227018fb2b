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
 *       {@code Mlp} (names start with {@code mlp.}). Declare its {@link leviathan.nn.PartType} as a
 *       constant: kind, one-line summary, constructor, and every option it reads as a
 *       {@link leviathan.nn.PartOption} (key, model or run scope, type, default, bounds, flag,
 *       help). The constructor {@code (BlockPart.Dims, PartSpec)} reads its model options from the
 *       spec (validated, fixed defaults filled in) and checks the bounds that depend on the
 *       dimensions. Declare {@code params()}, {@code activations()}, {@code metadata()} and, if it
 *       allocates scratch of its own, {@code scratchBytes()}; in {@code bind()} resolve the segments
 *       once and return a {@code Bound} whose {@code forward} computes rows {@code [t0, T)} and whose
 *       {@code backward} adds into its gradients. A part with an auxiliary training loss reports it
 *       in {@code auxLoss()} and adds its gradient in {@code backward} scaled by
 *       {@code lossScale}; figures for the metrics go to {@code stats()}. Run options (kernel
 *       choice, loss weights, initialisation) arrive as {@link leviathan.nn.RunOptions}.</li>
 *   <li>Register it: one line in {@link leviathan.nn.Parts}.</li>
 *   <li>Test it: its kernels against scalar references, finite differences of every gradient, and
 *       the model-level checks (a PyTorch fixture).</li>
 * </ol>
 * Nothing else changes: the command-line flags of {@code train}, {@code sample}, {@code eval} and
 * {@code serve}, the checks of {@code config.json} and checkpoint metadata, the parameter layout,
 * the workspace, the memory estimate and {@code info} all derive from the declarations.
 */
package leviathan.nn;
