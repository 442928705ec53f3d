package dev.spindle.interop;

import io.spiffe.bundle.BundleSource;
import io.spiffe.bundle.jwtbundle.JwtBundleSet;
import io.spiffe.bundle.x509bundle.X509Bundle;
import io.spiffe.bundle.x509bundle.X509BundleSet;
import io.spiffe.spiffeid.TrustDomain;
import io.spiffe.svid.jwtsvid.JwtSvid;
import io.spiffe.svid.x509svid.X509Svid;
import io.spiffe.svid.x509svid.X509SvidValidator;
import io.spiffe.workloadapi.DefaultWorkloadApiClient;
import io.spiffe.workloadapi.DefaultX509Source;
import io.spiffe.workloadapi.WorkloadApiClient;
import io.spiffe.workloadapi.X509Context;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Interop client for Spindle's Workload API written with java-spiffe. Usage: {@code fetch <audience>}.
 * The Workload API address comes from SPIFFE_ENDPOINT_SOCKET (read by java-spiffe itself).
 *
 * <p>Prints two JSON lines on stdout: {@code x509} (DefaultX509Source: SPIFFE ID, chain length, the
 * chain verified by X509SvidValidator against its trust domain's bundle and refused by another
 * trust domain's bundle, the private key matching the leaf) and {@code jwt} (a JWT-SVID fetched
 * for the audience, validated by the Workload API and locally against the JWT bundles; a wrong
 * audience is refused by both). Any failure exits 1 with the reason on stderr.
 */
public final class JavaInterop {
  private JavaInterop() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 2 || !args[0].equals("fetch")) {
      System.err.println("usage: java -jar java-interop.jar fetch <audience>");
      System.exit(2);
    }
    String audience = args[1];
    try {
      fetch(audience);
    } catch (Exception e) {
      System.err.println("java-interop: " + e);
      for (Throwable c = e.getCause(); c != null; c = c.getCause()) System.err.println("  caused by: " + c);
      System.exit(1);
    }
    // java-spiffe's gRPC threads are not all daemons: leave at once.
    System.exit(0);
  }

  private static void fetch(String audience) throws Exception {
    // DefaultX509Source keeps a watch open and retries Unavailable until the first update arrives.
    DefaultX509Source.X509SourceOptions options = DefaultX509Source.X509SourceOptions.builder().initTimeout(Duration.ofSeconds(20)).build();
    try (DefaultX509Source source = DefaultX509Source.newSource(options);
        WorkloadApiClient client = DefaultWorkloadApiClient.newClient()) {
      X509Svid svid = source.getX509Svid();
      List<X509Certificate> chain = svid.getChain();
      TrustDomain td = svid.getSpiffeId().getTrustDomain();

      X509Context context = client.fetchX509Context();
      X509BundleSet bundles = context.getX509BundleSet();
      List<String> trustDomains = new ArrayList<>();
      for (TrustDomain t : bundles.getBundles().keySet()) trustDomains.add(t.getName());
      trustDomains.sort(null);

      // Verified against the bundle of its own trust domain (taken from the source) ...
      boolean verified = verifies(chain, source);
      // ... and refused when another trust domain's authorities stand in for it.
      X509Bundle other = null;
      for (Map.Entry<TrustDomain, X509Bundle> e : bundles.getBundles().entrySet()) if (!e.getKey().equals(td)) other = e.getValue();
      X509Bundle foreign = other;
      Boolean rejectedByOther = foreign == null ? null : !verifies(chain, t -> new X509Bundle(t, foreign.getX509Authorities()));

      Map<String, Object> x509 = new TreeMap<>();
      x509.put("event", "x509");
      x509.put("spiffe_id", svid.getSpiffeId().toString());
      x509.put("hint", svid.getHint());
      x509.put("chain_len", chain.size());
      x509.put("chain_verified_to_bundle", verified);
      x509.put("chain_rejected_by_other_bundle", rejectedByOther);
      x509.put("key_matches_leaf", keyMatches(svid.getPrivateKey(), svid.getLeaf().getPublicKey()));
      x509.put("svid_count", context.getX509Svids().size());
      x509.put("trust_domains", trustDomains);
      System.out.println(json(x509));

      JwtSvid jwt = client.fetchJwtSvid(audience);
      JwtSvid remote = client.validateJwtSvid(jwt.getToken(), audience);
      JwtBundleSet jwtBundles = client.fetchJwtBundles();
      JwtSvid local = JwtSvid.parseAndValidate(jwt.getToken(), jwtBundles, Set.of(audience));
      String remoteWrong = errorOf(() -> client.validateJwtSvid(jwt.getToken(), audience + "-other"));
      String localWrong = errorOf(() -> JwtSvid.parseAndValidate(jwt.getToken(), jwtBundles, Set.of(audience + "-other")));

      Map<String, Object> out = new TreeMap<>();
      out.put("event", "jwt");
      out.put("spiffe_id", jwt.getSpiffeId().toString());
      out.put("audience", sorted(jwt.getAudience()));
      out.put("remote_sub", remote.getSpiffeId().toString());
      out.put("remote_audience", sorted(remote.getAudience()));
      out.put("local_sub", local.getSpiffeId().toString());
      out.put("wrong_audience_remote_error", remoteWrong);
      out.put("wrong_audience_local_error", localWrong);
      System.out.println(json(out));
    }
  }

  private static boolean verifies(List<X509Certificate> chain, BundleSource<X509Bundle> bundles) {
    try {
      X509SvidValidator.verifyChain(chain, bundles);
      return true;
    } catch (Exception e) {
      return false;
    }
  }

  /** Signs random bytes with the SVID's key and checks the signature with the leaf's public key. */
  private static boolean keyMatches(PrivateKey key, PublicKey leafKey) throws Exception {
    String alg = switch (key.getAlgorithm()) {
      case "EC" -> "SHA256withECDSA";
      case "RSA" -> "SHA256withRSA";
      default -> throw new IllegalStateException("unexpected SVID key algorithm " + key.getAlgorithm());
    };
    byte[] data = new byte[32];
    new SecureRandom().nextBytes(data);
    Signature signer = Signature.getInstance(alg);
    signer.initSign(key);
    signer.update(data);
    byte[] sig = signer.sign();
    Signature verifier = Signature.getInstance(alg);
    verifier.initVerify(leafKey);
    verifier.update(data);
    return verifier.verify(sig);
  }

  private interface Call {
    void run() throws Exception;
  }

  /** The error a call must fail with, or null when it did not fail. */
  private static String errorOf(Call call) {
    try {
      call.run();
      return null;
    } catch (Exception e) {
      StringBuilder sb = new StringBuilder(String.valueOf(e.getMessage()));
      for (Throwable c = e.getCause(); c != null; c = c.getCause()) sb.append(": ").append(c.getMessage());
      return sb.toString();
    }
  }

  private static List<String> sorted(Collection<String> values) {
    List<String> list = new ArrayList<>(values);
    list.sort(null);
    return list;
  }

  private static String json(Object v) {
    if (v == null) return "null";
    if (v instanceof Boolean || v instanceof Integer) return v.toString();
    if (v instanceof Map<?, ?> m) {
      StringBuilder sb = new StringBuilder("{");
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (sb.length() > 1) sb.append(',');
        sb.append(json(String.valueOf(e.getKey()))).append(':').append(json(e.getValue()));
      }
      return sb.append('}').toString();
    }
    if (v instanceof Collection<?> c) {
      StringBuilder sb = new StringBuilder("[");
      for (Object o : c) {
        if (sb.length() > 1) sb.append(',');
        sb.append(json(o));
      }
      return sb.append(']').toString();
    }
    String s = v.toString();
    StringBuilder sb = new StringBuilder("\"");
    for (int i = 0; i < s.length(); i++) {
      char ch = s.charAt(i);
      switch (ch) {
        case '"' -> sb.append("\\\"");
        case '\\' -> sb.append("\\\\");
        case '\n' -> sb.append("\\n");
        case '\r' -> sb.append("\\r");
        case '\t' -> sb.append("\\t");
        default -> {
          if (ch < 0x20) sb.append(String.format("\\u%04x", (int) ch));
          else sb.append(ch);
        }
      }
    }
    return sb.append('"').toString();
  }
}
