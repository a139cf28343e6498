public class E2e { public static void main(String[] a) { System.out.println("stub"); } }
